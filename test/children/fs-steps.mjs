// Finds the store's commit steps at the fs layer, so a preload can crash or fail one of them with no hook in
// production code. Steps, in commit order: lock (proper-lockfile's mkdir of `<file>.lock`), open / write / fsync /
// rename (the temp file `<file>.<digits>` of write-file-atomic or the commit worker's own writer), dirsync (our
// directory fsync), whether they are made with callbacks, promises or synchronous calls.
import fs from "node:fs";
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { basename } from "node:path";
import { promisify } from "node:util";

export const STEPS = ["lock", "open", "write", "fsync", "rename", "dirsync"];

const LOCK_DIR = /\.json\.lock$/;
const TEMP_FILE = /\.json\.\d+$/;

/** Parses `<step>:<value>` from an env var, rejecting unknown steps so a typo cannot make a test pass. */
export function parseStepSpec(name) {
  const raw = process.env[name];
  const [step, value] = (raw ?? "").split(":");
  if (!STEPS.includes(step) || !value)
    throw new Error(`${name} must be <step>:<value> with step in ${STEPS}; got ${raw}`);
  return { step, value };
}

/**
 * Calls `hook(step, "before")` and `hook(step, "after")` around every step. A "before" call that returns an
 * Error fails the step with it, without performing it.
 */
export function interceptSteps(given) {
  const tempFds = new Set();
  // CREDPOOL_STEPS_AFTER_LOCKS=<n>: the first n commits of this thread run untouched (a writer's warm-up commits).
  const afterLocks = Number(process.env.CREDPOOL_STEPS_AFTER_LOCKS ?? 0);
  let locks = 0;
  const hook = (step, phase) => {
    if (step === "lock" && phase === "before") locks++;
    return locks > afterLocks ? given(step, phase) : undefined;
  };

  // write-file-atomic looks up `promisify(fs.open)` etc. at call time and proper-lockfile is given this same
  // object, so replacing properties on the default export reaches both.
  function wrap(name, matches, onSuccess = () => undefined) {
    const original = fs[name];
    const wrapped = (...args) => {
      const step = matches(...args);
      if (!step) return original(...args);
      const callback = args.pop();
      const injected = hook(step, "before");
      if (injected) {
        process.nextTick(callback, injected);
        return undefined;
      }
      return original(...args, (error, ...results) => {
        if (!error) {
          onSuccess(results);
          hook(step, "after");
        }
        callback(error, ...results);
      });
    };
    // Keep promisify's knowledge of multi-value callbacks (fs.write), but never a custom promisified twin,
    // which would bypass the wrapper.
    for (const symbol of Object.getOwnPropertySymbols(original)) {
      if (symbol !== promisify.custom) wrapped[symbol] = original[symbol];
    }
    fs[name] = wrapped;
  }

  wrap("mkdir", (path) => typeof path === "string" && LOCK_DIR.test(path) && "lock");
  wrap(
    "open",
    (path) => typeof path === "string" && TEMP_FILE.test(basename(path)) && "open",
    ([fd]) => tempFds.add(fd),
  );
  wrap("write", (fd) => tempFds.has(fd) && "write");
  wrap("fsync", (fd) => tempFds.has(fd) && "fsync");
  wrap("rename", (from) => typeof from === "string" && TEMP_FILE.test(basename(from)) && "rename");
  const close = fs.close;
  fs.close = (fd, ...rest) => {
    // Descriptor numbers are reused; forget ours once closed.
    tempFds.delete(fd);
    return close(fd, ...rest);
  };

  // The store's commit worker makes the same steps with the synchronous calls (the preload runs in workers too).
  const dirFds = new Set();
  function wrapSync(name, matches, onSuccess = () => undefined) {
    const original = fs[name];
    fs[name] = (...args) => {
      const step = matches(...args);
      if (!step) return original(...args);
      const injected = hook(step, "before");
      if (injected) throw injected;
      const result = original(...args);
      onSuccess(result);
      hook(step, "after");
      return result;
    };
  }
  wrapSync("mkdirSync", (path) => typeof path === "string" && LOCK_DIR.test(path) && "lock");
  const openSync = fs.openSync;
  fs.openSync = (...args) => {
    const [path] = args;
    if (typeof path === "string" && TEMP_FILE.test(basename(path))) {
      const injected = hook("open", "before");
      if (injected) throw injected;
      const fd = openSync(...args);
      tempFds.add(fd);
      hook("open", "after");
      return fd;
    }
    const fd = openSync(...args);
    if (fs.fstatSync(fd).isDirectory()) dirFds.add(fd);
    return fd;
  };
  wrapSync("writeSync", (fd) => tempFds.has(fd) && "write");
  wrapSync("fsyncSync", (fd) => (tempFds.has(fd) ? "fsync" : dirFds.has(fd) ? "dirsync" : false));
  wrapSync("renameSync", (from) => typeof from === "string" && TEMP_FILE.test(basename(from)) && "rename");
  const closeSync = fs.closeSync;
  fs.closeSync = (fd, ...rest) => {
    tempFds.delete(fd);
    dirFds.delete(fd);
    return closeSync(fd, ...rest);
  };

  // The directory fsync is `open(dir)` then `handle.sync()` from node:fs/promises; syncBuiltinESMExports makes
  // the replaced `open` visible to modules that imported it by name.
  const open = fsp.open;
  fsp.open = async (...args) => {
    const handle = await open(...args);
    if ((await handle.stat()).isDirectory()) {
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        const injected = hook("dirsync", "before");
        if (injected) throw injected;
        await sync();
        hook("dirsync", "after");
      };
    }
    return handle;
  };
  syncBuiltinESMExports();
}
