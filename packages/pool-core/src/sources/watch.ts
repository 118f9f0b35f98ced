// Keeps the pool in step with source files while a process runs: a re-login in Claude Code or Codex is adopted within
// moments. Events are hints only; each one triggers a normal sync, which writes nothing if nothing changed.
import { realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, sep } from "node:path";
import { watch as chokidarWatch, type FSWatcher } from "chokidar";
import type { PoolBackend } from "../store/index.js";
import { defaultSourceSpecs, linkedSourceSpecs, sourcePathOf, syncSources, type SyncOptions, type SyncResult } from "./sync.js";
import type { SourceSpec } from "./types.js";

export interface WatchSourcesOptions extends SyncOptions {
  /** Defaults to Claude Code, Codex and the environment, plus every file the pool links to (re-read each sync). */
  specs?: readonly SourceSpec[];
  /** Coalesces a burst of events (an editor's temp file and rename) into one sync. */
  debounceMs?: number;
  /** Slow stat poll for filesystems where events get lost, and for symlinked files. */
  pollIntervalMs?: number;
  /** Sync once when watching starts (default true). */
  initialSync?: boolean;
  onSync?: (result: SyncResult) => void;
  /** Failures of a background sync (the pool could not be read or written); watching continues. */
  onError?: (error: unknown) => void;
}

export interface SourceWatcher {
  /** Resolves once the file watcher is listening (and the initial sync, if any, is done). */
  readonly ready: Promise<void>;
  /** Syncs now, or joins the sync in progress (which then runs once more). */
  syncNow(): Promise<SyncResult>;
  close(): Promise<void>;
}

/** The closest directory that exists on the way to `dir`: watching it tells us when the rest gets created. */
async function nearestExistingDir(dir: string): Promise<string> {
  let current = dir;
  for (;;) {
    try {
      if ((await stat(current)).isDirectory()) return current;
    } catch {
      // keep climbing
    }
    const parent = dirname(current);
    if (parent === current) return current;
    current = parent;
  }
}

async function signatureOf(path: string): Promise<string> {
  try {
    const info = await stat(path, { bigint: true });
    return `${info.ino}:${info.mtimeNs}:${info.size}`;
  } catch {
    return "missing";
  }
}

export function watchSources(backend: PoolBackend, options: WatchSourcesOptions = {}): SourceWatcher {
  const env = options.env ?? process.env;
  const debounceMs = options.debounceMs ?? 50;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const syncOptions: SyncOptions = {
    env,
    ...(options.now ? { now: options.now } : {}),
    ...(options.addNew !== undefined ? { addNew: options.addNew } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
  let closed = false;
  let running: Promise<SyncResult> | null = null;
  let again = false;
  let debounce: NodeJS.Timeout | undefined;
  /** Paths whose events matter: each watched file and, for symlinks, its target. */
  let interesting: string[] = [];
  const signatures = new Map<string, string>();
  const watchedDirs = new Set<string>();

  const report = (error: unknown): void => {
    try {
      options.onError?.(error);
    } catch {
      // The observer's failure is not the watcher's.
    }
  };

  let watcher: FSWatcher | undefined;

  let listening: Promise<void> = Promise.resolve();

  function startWatcher(dirs: string[]): FSWatcher {
    const created = chokidarWatch(dirs, { depth: 0, ignoreInitial: true, persistent: false, atomic: false });
    created.on("raw", (_event, path, details) => {
      if (typeof path !== "string" || path === "") return;
      const watchedPath = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      const full = isAbsolute(path) ? path : typeof watchedPath === "string" ? join(watchedPath, path) : path;
      if (isInteresting(full)) hint();
    });
    created.on("all", (_event, path) => {
      if (isInteresting(path)) hint();
    });
    created.on("error", report);
    listening = new Promise<void>((resolve) => created.once("ready", () => resolve()));
    return created;
  }

  async function currentSpecs(): Promise<SourceSpec[]> {
    if (options.specs) return [...options.specs];
    const { doc } = await backend.read();
    return [...defaultSourceSpecs(), ...linkedSourceSpecs(doc)];
  }

  /** Points the directory watchers at each file, or at its nearest existing ancestor until the file's dir exists. */
  async function arm(specs: readonly SourceSpec[]): Promise<void> {
    const files = [
      ...new Set(specs.filter((spec) => spec.kind === "claude-code" || spec.kind === "codex").map((spec) => sourcePathOf(spec, env) ?? "")),
    ].filter((path) => path !== "");
    const paths = new Set<string>(files);
    const dirs = new Set<string>();
    for (const file of files) {
      dirs.add(await nearestExistingDir(dirname(file)));
      const real = await realpath(file).catch(() => undefined);
      if (real && real !== file) {
        paths.add(real);
        dirs.add(await nearestExistingDir(dirname(real)));
      }
    }
    if (closed) return;
    interesting = [...paths];
    if (!watcher) {
      watcher = startWatcher([...dirs]);
      for (const dir of dirs) watchedDirs.add(dir);
    }
    for (const dir of dirs) {
      if (!watchedDirs.has(dir)) {
        watchedDirs.add(dir);
        watcher.add(dir);
      }
    }
    // Directories are never unwatched: chokidar's unwatch() ignores everything beneath the path too, which would
    // silence the deeper directory we just started watching. Unrelated events are filtered by isInteresting().
    for (const path of interesting) {
      if (!signatures.has(path)) signatures.set(path, await signatureOf(path));
    }
  }

  function isInteresting(path: string): boolean {
    return interesting.some(
      // The file, a temp file beside it (`auth.json.tmp.123`), or a directory on the way to a file not created yet.
      (target) => path === target || path.startsWith(`${target}.`) || target.startsWith(`${path}${sep}`),
    );
  }

  async function runSyncs(): Promise<SyncResult> {
    let result: SyncResult;
    do {
      again = false;
      const specs = await currentSpecs();
      result = await syncSources(backend, specs, syncOptions);
      try {
        options.onSync?.(result);
      } catch {
        // The observer's failure is not the watcher's.
      }
      // New links (an import since the last sync) and newly created directories get watched from now on.
      await arm(specs);
    } while (again && !closed);
    return result;
  }

  function syncNow(): Promise<SyncResult> {
    if (running) {
      again = true;
      return running;
    }
    running = runSyncs().finally(() => {
      running = null;
    });
    return running;
  }

  function hint(): void {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      syncNow().catch(report);
    }, debounceMs);
  }

  const poll = setInterval(() => {
    void (async () => {
      for (const path of interesting) {
        const signature = await signatureOf(path);
        if (signatures.get(path) !== signature) {
          signatures.set(path, signature);
          hint();
        }
      }
    })();
  }, pollIntervalMs);
  poll.unref();

  const ready = (async () => {
    await arm(await currentSpecs());
    await listening;
    if (options.initialSync !== false) await syncNow();
  })();
  // `ready` is also awaited by callers; this keeps an early failure from being an unhandled rejection.
  ready.catch(report);

  return {
    ready,
    syncNow,
    async close() {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      await watcher?.close();
      if (running) await running.catch(() => undefined);
    },
  };
}
