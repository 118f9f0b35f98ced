// The commit worker: a file backend's locked I/O (lock, stat, read, fence, backup, write, fsync, release) runs here
// as plain synchronous syscalls, two messages per commit instead of ~26 thread-pool round trips, and off the main
// thread so a slow disk never blocks an event loop that serves requests. See bench/groups/store.mjs (store.seq.*).
import fs from "node:fs";
import { basename, dirname, join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import lockfile from "proper-lockfile";
import {
  toErrorInfo,
  type AcquireReply,
  type AcquireRequest,
  type CommitReply,
  type CommitRequest,
  type ErrorInfo,
  type PublishReply,
  type PublishRequest,
  type ReadOutcome,
  type WorkerReply,
  type WorkerRequest,
} from "./commit-protocol.js";
import { describeFileType, fileIdentity, isTempName, revFromHead } from "./file-identity.js";

interface Held {
  readonly path: string;
  readonly followSymlink: boolean;
  release: () => Promise<void>;
  compromised: ErrorInfo | null;
}

const port = parentPort!;
/** Bumped by the main thread after every message, so a waiter's sleep ends when there is news. */
const wake = new Int32Array((workerData as { wake: SharedArrayBuffer }).wake);
const held = new Map<number, Held>();
let probed = false;

// A waiter polls the lock after a short, growing, jittered sleep. The cap grows with the wait, so a crowd of waiters
// (a hundred agents at once) does not spend the cores polling. A process that watches the pool's directory wakes
// its waiter as soon as the lock is removed (pokeCommitWorker): no watch of our own, which would take one more of
// the user's inotify instances (128 by default) per process, for good.
const FIRST_SLEEP_MS = 0.2;
const SHORT_CAP_MS = 2;
const LONG_CAP_MS = 25;
/**
 * A temp name's random part. Not a secret: O_EXCL refuses a name that exists, so uniqueness is all it needs, and
 * crypto's generator costs a syscall-sized call per commit.
 */
function randomUint32(): number {
  return Math.floor(Math.random() * 0x1_0000_0000);
}

function reply(message: WorkerReply): void {
  port.postMessage(message);
}

function sleepUnlessWoken(ms: number, seen: number): void {
  Atomics.wait(wake, 0, seen, ms);
}

/** Lets queued messages and proper-lockfile's mtime timers run between tries. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * node:fs behind proper-lockfile's callback interface, answering synchronously. One object for the worker's life:
 * proper-lockfile caches the filesystem's mtime precision on the fs object it is given, and its own lockSync()
 * copies fs on every call, so it would probe again at every lock, stamping each lock up to 1 s in the future and
 * delaying the takeover of a crashed holder's lock by as much (test/store/sigkill-loop.test.ts).
 */
type Callback = (error: unknown, result?: unknown) => void;
const syncCall =
  (run: (...args: unknown[]) => unknown) =>
  (...args: unknown[]): void => {
    const callback = args.pop() as Callback;
    let result: unknown;
    try {
      result = run(...args);
    } catch (error) {
      callback(error);
      return;
    }
    callback(null, result);
  };
// Looked up at call time, so a preload that wraps node:fs (test/children/fs-steps.mjs) still sees every call.
const lockFs = {
  mkdir: syncCall((...args) => (fs.mkdirSync as (...a: unknown[]) => unknown)(...args)),
  stat: syncCall((...args) => (fs.statSync as (...a: unknown[]) => unknown)(...args)),
  rmdir: syncCall((...args) => (fs.rmdirSync as (...a: unknown[]) => unknown)(...args)),
  utimes: syncCall((...args) => (fs.utimesSync as (...a: unknown[]) => unknown)(...args)),
  realpath: syncCall((...args) => (fs.realpathSync as (...a: unknown[]) => unknown)(...args)),
};

/** proper-lockfile's lock(), which with `lockFs` settles without touching the thread pool. */
async function tryLock(path: string, options: Omit<lockfile.LockOptions, "fs">): Promise<() => Promise<void>> {
  return lockfile.lock(path, { ...options, fs: lockFs, retries: 0 });
}

/** The precision probe stamps its lock up to 1 s ahead: spend it on a throwaway path, as file-lock.ts does. */
async function probeOnce(dir: string): Promise<void> {
  if (probed) return;
  probed = true;
  const probe = join(dir, `.credpool-probe-${process.pid}-${randomUint32().toString(16)}`);
  try {
    const release = await tryLock(probe, { lockfilePath: `${probe}.lock`, realpath: false });
    await release();
  } catch {
    // Best effort: without the probe the first lock is merely stamped late.
  }
}

function describeHolder(lockPath: string): string {
  try {
    const info = fs.statSync(lockPath);
    const since = info.birthtimeMs > 0 ? info.birthtimeMs : info.mtimeMs;
    return `held for ${Math.max(0, Math.round(Date.now() - since))} ms`;
  } catch {
    return "released just now";
  }
}

function identityOf(path: string, followSymlink: boolean): string | null {
  try {
    const info = (followSymlink ? fs.statSync : fs.lstatSync)(path, { bigint: true });
    return info.isFile() ? fileIdentity(info) : null;
  } catch {
    return null;
  }
}

/** As json-file.ts's readDocumentFile: non-blocking open (a FIFO must not hang us), fstat, then the bytes. */
function readDocument(path: string, followSymlink: boolean): ReadOutcome {
  let fd: number;
  try {
    fd = fs.openSync(
      path,
      fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (followSymlink ? 0 : fs.constants.O_NOFOLLOW),
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") return { kind: "missing" };
    if (!followSymlink && code === "ELOOP") return { kind: "symlink", error: toErrorInfo(error) };
    return { kind: "error", error: toErrorInfo(error) };
  }
  try {
    const info = fs.fstatSync(fd, { bigint: true });
    if (!info.isFile()) return { kind: "not-file", fileType: describeFileType(info) };
    return { kind: "file", text: fs.readFileSync(fd, "utf8"), identity: fileIdentity(info) };
  } catch (error) {
    return { kind: "error", error: toErrorInfo(error) };
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // Nothing to do: the read itself is what mattered.
    }
  }
}

function removeOrphans(path: string): void {
  const dir = dirname(path);
  const fileName = basename(path);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!isTempName(fileName, name)) continue;
    try {
      fs.unlinkSync(join(dir, name));
    } catch {
      // Gone already, or not ours to remove: the next commit tries again.
    }
  }
}

/** One try at the lock: the entry when taken, null when another holder has it. */
async function attemptLock(request: AcquireRequest): Promise<Held | null> {
  // A lock that is there and fresh cannot be taken: one stat, where proper-lockfile's attempt costs a failed mkdir,
  // a stat and two error objects. Waiters poll often, so this is most of what waiting costs.
  const lockInfo = fs.statSync(request.lockPath, { throwIfNoEntry: false });
  if (lockInfo !== undefined && Date.now() - lockInfo.mtimeMs < request.staleMs) return null;
  const entry: Held = {
    path: request.path,
    followSymlink: request.followSymlink,
    compromised: null,
    release: () => Promise.resolve(),
  };
  try {
    entry.release = await tryLock(request.path, {
      lockfilePath: request.lockPath,
      realpath: false,
      stale: request.staleMs,
      onCompromised: (error) => {
        entry.compromised = toErrorInfo(error);
      },
    });
  } catch (error) {
    if ((error as { code?: string }).code === "ELOCKED") return null;
    // Another waiter's stale takeover removed the lock we had just made (see file-lock.ts, lostTakeoverRace).
    if ((error as { code?: string }).code === "ENOENT" && fs.existsSync(dirname(request.lockPath))) return null;
    throw error;
  }
  return entry;
}

async function acquire(request: AcquireRequest): Promise<AcquireReply> {
  const started = performance.now();
  await probeOnce(dirname(request.lockPath));
  let sleepMs = FIRST_SLEEP_MS;
  for (;;) {
    const seen = Atomics.load(wake, 0);
    let entry: Held | null;
    try {
      entry = await attemptLock(request);
    } catch (error) {
      return { ok: false, reason: "io", error: toErrorInfo(error) };
    }
    if (entry !== null) {
      held.set(request.id, entry);
      break;
    }
    const waited = performance.now() - started;
    if (waited >= request.timeoutMs) {
      return { ok: false, reason: "timeout", waitedMs: waited, holder: describeHolder(request.lockPath) };
    }
    sleepUnlessWoken(Math.min(sleepMs * (0.5 + Math.random()), request.timeoutMs - waited), seen);
    await yieldToLoop();
    sleepMs = Math.min(sleepMs * 1.5, Math.max(SHORT_CAP_MS, Math.min(LONG_CAP_MS, waited / 25)));
  }
  const waitedMs = performance.now() - started;
  if (request.removeOrphans) removeOrphans(request.path);
  if (request.knownIdentity !== null && identityOf(request.path, request.followSymlink) === request.knownIdentity) {
    return { ok: true, waitedMs, read: { kind: "unchanged" } };
  }
  return { ok: true, waitedMs, read: readDocument(request.path, request.followSymlink) };
}

async function releaseHeld(id: number): Promise<void> {
  const entry = held.get(id);
  held.delete(id);
  if (entry === undefined || entry.compromised !== null) return;
  // A lock proper-lockfile already gave up is no longer ours to remove.
  await entry.release().catch(() => undefined);
}

/** The committed rev at `path`, from the head of the file, else a full parse; a missing file is `emptyRev`. */
function readRevOnDisk(path: string, emptyRev: number): number {
  let text: string;
  try {
    const fd = fs.openSync(path, "r");
    try {
      const head = Buffer.alloc(256);
      const bytesRead = fs.readSync(fd, head, 0, head.length, 0);
      const rev = revFromHead(head.toString("utf8", 0, bytesRead));
      if (rev !== undefined) return rev;
      text = fs.readFileSync(fd, "utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return emptyRev;
    throw error;
  }
  try {
    const rev = (JSON.parse(text) as { rev?: unknown }).rev;
    return typeof rev === "number" ? rev : -1;
  } catch {
    return -1;
  }
}

/** A hard link to the inode about to be replaced: the previous good document, at the cost of two syscalls. */
function keepBackup(path: string, backupPath: string): void {
  const temp = `${backupPath}.${randomUint32().toString(16)}.tmp`;
  try {
    fs.linkSync(path, temp);
    fs.renameSync(temp, backupPath);
  } catch {
    // Best effort, as before: a missing backup never blocks a commit.
  }
  try {
    // rename() between two links to one inode succeeds without removing `temp` (after a failed publish the backup
    // already links this inode). See test/store/fault-injection.test.ts. Usually the rename consumed it: asked
    // first, because a failed unlink costs an error object with its stack.
    if (fs.existsSync(temp)) fs.unlinkSync(temp);
  } catch {
    // Removed at the next commit (removeOrphans) if not now.
  }
}

/** write(2) may write fewer bytes than asked without an error (a full disk, a file-size limit): loop, then check. */
function writeAll(fd: number, data: Buffer, temp: string): void {
  let offset = 0;
  while (offset < data.length) {
    const written = fs.writeSync(fd, data, offset, data.length - offset, offset);
    if (!(written > 0)) {
      throw Object.assign(
        new Error(`ENOSPC: no space left on device, write '${temp}' (${offset} of ${data.length} bytes written)`),
        { code: "ENOSPC", syscall: "write", path: temp },
      );
    }
    offset += written;
  }
  const { size } = fs.fstatSync(fd);
  if (size !== data.length) {
    throw Object.assign(new Error(`EIO: ${temp} holds ${size} bytes after writing ${data.length}`), {
      code: "EIO",
      syscall: "write",
      path: temp,
    });
  }
}

/**
 * The pool file's writer: the steps of our patched write-file-atomic (a `<file>.<uint32>` temp file, every byte
 * written and the size checked, fsync, rename, the temp file removed on failure) without what its synchronous form
 * adds to every call: a realpath walk (an lstat per path component), a sha1 for the temp name, exit hooks, and a
 * chown and chmod by path. Measured side by side on a 10 KB document: 400-620 us of CPU and 690-900 us per write
 * against 170-220 us and 450-530 us; store.single.vs_floor 1.76 -> 1.55. write-file-atomic still writes everything
 * else (json-file.ts), including files credpool does not own.
 */
function writeDurably(path: string, data: Buffer, mode: number, followSymlink: boolean): void {
  // A symlink the user allowed is replaced in its target's directory, as write-file-atomic does.
  let target = path;
  if (followSymlink) {
    try {
      target = fs.realpathSync.native(path);
    } catch {
      // Not there yet: written where it was asked for.
    }
  }
  let temp = "";
  let fd = -1;
  for (let tries = 0; fd < 0; tries++) {
    temp = `${target}.${randomUint32()}`;
    try {
      fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST" || tries >= 3) throw error;
    }
  }
  let renamed = false;
  try {
    try {
      // The mode given to open() is cut by the umask; the pool file's mode is not.
      fs.fchmodSync(fd, mode);
      writeAll(fd, data, temp);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, target);
    renamed = true;
  } finally {
    if (!renamed) {
      try {
        fs.unlinkSync(temp);
      } catch {
        // Removed at the next commit (removeOrphans) if not now.
      }
    }
  }
}

/** `fenced`: the caller found the file at `readIdentity` under this same lock, with nothing in between. */
async function publish(request: PublishRequest, fenced = false): Promise<PublishReply> {
  const entry = held.get(request.id);
  if (entry === undefined) {
    return { ok: false, reason: "compromised", error: { message: "the commit worker does not hold this lock" } };
  }
  const lost = (): PublishReply | null => {
    if (entry.compromised === null) return null;
    held.delete(request.id);
    return { ok: false, reason: "compromised", error: entry.compromised };
  };
  try {
    const early = lost();
    if (early) return early;
    let diskRev: number;
    if (
      fenced ||
      (request.readIdentity !== null && identityOf(entry.path, entry.followSymlink) === request.readIdentity)
    ) {
      diskRev = request.expectedRev;
    } else {
      try {
        diskRev = readRevOnDisk(entry.path, request.emptyRev);
      } catch (error) {
        return { ok: false, reason: "reread", error: toErrorInfo(error) };
      }
    }
    const late = lost();
    if (late) return late;
    if (diskRev !== request.expectedRev) return { ok: false, reason: "fence", diskRev };
    if (request.backupPath !== null) keepBackup(entry.path, request.backupPath);
    // A view of the main thread's shared bytes: no copy.
    const data = Buffer.from(request.data.buffer, request.data.byteOffset, request.data.byteLength);
    try {
      writeDurably(entry.path, data, request.mode, entry.followSymlink);
    } catch (error) {
      return { ok: false, reason: "write", error: toErrorInfo(error) };
    }
    try {
      const dirFd = fs.openSync(dirname(entry.path), fs.constants.O_RDONLY);
      try {
        fs.fsyncSync(dirFd);
      } finally {
        fs.closeSync(dirFd);
      }
    } catch (error) {
      return { ok: false, reason: "dirsync", error: toErrorInfo(error) };
    }
    return { ok: true, identity: identityOf(entry.path, entry.followSymlink) };
  } finally {
    await releaseHeld(request.id);
  }
}

async function commitIfUnchanged(request: CommitRequest): Promise<CommitReply> {
  const acquired = await acquire({ ...request, op: "acquire", removeOrphans: false });
  if (!acquired.ok || acquired.read.kind !== "unchanged") return { acquired };
  return {
    acquired,
    published: await publish(
      { ...request.input, op: "publish", id: request.id, readIdentity: request.knownIdentity },
      true,
    ),
  };
}

async function handle(request: WorkerRequest): Promise<void> {
  try {
    switch (request.op) {
      case "acquire":
        reply({ id: request.id, op: "acquire", reply: await acquire(request) });
        return;
      case "publish":
        reply({ id: request.id, op: "publish", reply: await publish(request) });
        return;
      case "commit":
        reply({ id: request.id, op: "commit", reply: await commitIfUnchanged(request) });
        return;
      case "release":
        await releaseHeld(request.id);
        reply({ id: request.id, op: "release", reply: { ok: true } });
        return;
    }
  } catch (error) {
    reply({ id: request.id, op: "crash", reply: { error: toErrorInfo(error) } });
  }
}

port.on("message", (request: WorkerRequest) => void handle(request));
port.postMessage({ op: "ready" });
