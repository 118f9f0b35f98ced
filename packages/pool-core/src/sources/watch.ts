// Keeps the pool in step with source files while a process runs: a re-login in Claude Code or Codex is adopted within
// moments. Events are hints only; each one triggers a normal sync, which writes nothing if nothing changed.
import { realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, sep } from "node:path";
import { watch as chokidarWatch, type FSWatcher } from "chokidar";
import type { PoolBackend } from "../store/index.js";
import type { PoolDocument } from "../store/schema.js";
import {
  defaultSourceSpecs,
  linkedSourceSpecs,
  sourcePathOf,
  syncSources,
  type SyncOptions,
  type SyncResult,
} from "./sync.js";
import type { SourceSpec } from "./types.js";

export interface WatchSourcesOptions extends SyncOptions {
  /**
   * Defaults to Claude Code, Codex and the environment, plus every file the pool links to. A function is asked again
   * with the current document on each sync, and whenever the pool changes (another process imported a file).
   */
  specs?: readonly SourceSpec[] | ((doc: PoolDocument) => readonly SourceSpec[]);
  /** Coalesces a burst of events (an editor's temp file and rename) into one sync. */
  debounceMs?: number;
  /** Stat poll for filesystems where events get lost (default 1000 ms, so a lost event still costs at most a second). */
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
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
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

  const specsOf = (doc: PoolDocument): SourceSpec[] =>
    typeof options.specs === "function"
      ? [...options.specs(doc)]
      : [...defaultSourceSpecs(), ...linkedSourceSpecs(doc)];

  async function currentSpecs(): Promise<SourceSpec[]> {
    if (options.specs && typeof options.specs !== "function") return [...options.specs];
    return specsOf((await backend.read()).doc);
  }

  const watchedFilesOf = (specs: readonly SourceSpec[]): string[] =>
    [
      ...new Set(
        specs
          .filter((spec) => spec.kind === "claude-code" || spec.kind === "codex")
          .map((spec) => sourcePathOf(spec, env) ?? ""),
      ),
    ].filter((path) => path !== "");

  /** Points the directory watchers at each file, or at its nearest existing ancestor until the file's dir exists. */
  async function arm(specs: readonly SourceSpec[]): Promise<void> {
    const files = watchedFilesOf(specs);
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
    // No watcher until there is something to watch: chokidar never reports ready for an empty list, and a start-up
    // waiting on that (with nothing else keeping the loop alive) would end the process.
    if (!watcher && dirs.size > 0) {
      watcher = startWatcher([...dirs]);
      for (const dir of dirs) watchedDirs.add(dir);
      await listening;
    }
    for (const dir of dirs) {
      if (!watchedDirs.has(dir)) {
        watchedDirs.add(dir);
        watcher?.add(dir);
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
      // New links (an import since the last sync) and newly created directories get watched from now on; the
      // observer hears of the sync once they are.
      await arm(specs);
      try {
        options.onSync?.(result);
      } catch {
        // The observer's failure is not the watcher's.
      }
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

  // A file linked by another process (an import while we run) is watched from the next pool change on, not only
  // after the next event on a file we already watch.
  const followsPool = (!options.specs || typeof options.specs === "function") && backend.capabilities.watch;
  const stopFollowingPool = followsPool
    ? backend.watch((change) => {
        if (watchedFilesOf(specsOf(change.doc)).some((path) => !interesting.includes(path))) hint();
      })
    : undefined;

  const ready = (async () => {
    await arm(await currentSpecs());
    await listening;
    if (options.initialSync !== false && !closed) await syncNow();
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
      stopFollowingPool?.();
      // Let a start-up still under way finish (it starts nothing once closed), so no watcher is created after this.
      await ready.catch(() => undefined);
      await watcher?.close();
      if (running) await running.catch(() => undefined);
    },
  };
}

/**
 * What a long-lived process follows (the gateway, `credpool watch`, `credpool exec` while its command runs): only the
 * files the pool's credentials are linked to, so a refresh or a re-login in Claude Code or Codex is adopted. It
 * adds no credential: that is `credpool import` and `credpool sync`, and a process's own environment is no source.
 */
export function watchLinkedSources(
  backend: PoolBackend,
  options: Omit<WatchSourcesOptions, "specs" | "addNew"> = {},
): SourceWatcher {
  return watchSources(backend, { ...options, specs: linkedSourceSpecs, addNew: false });
}
