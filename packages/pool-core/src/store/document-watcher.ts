// Turns directory events into "re-read now" hints; the file's rev, not the event, decides whether anything changed.
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { watch as chokidarWatch, type FSWatcher } from "chokidar";

export interface DocumentWatcherOptions {
  /** The document file; its directory is what gets watched, because a rename replaces the file's inode. */
  path: string;
  /** Re-check once more this long after the last hint, to catch the tail of a write burst. */
  trailingRecheckMs: number;
  /** Slow stat poll, for filesystems where events are lost (network mounts, overflowed inotify queues). */
  pollIntervalMs: number;
  /** Re-reads the document and reports it; must not throw. */
  check: () => Promise<void>;
}

export interface DocumentWatcher {
  /** Resolves once the underlying watcher is listening. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function watchDocument(options: DocumentWatcherOptions): DocumentWatcher {
  const name = basename(options.path);
  let closed = false;
  let running = false;
  let again = false;
  let trailing: NodeJS.Timeout | undefined;
  let lastSignature = "";

  // Coalesce: at most one check in flight, and at most one queued behind it.
  const runCheck = async (): Promise<void> => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await options.check();
      } while (again && !closed);
    } finally {
      running = false;
    }
  };

  const hint = (): void => {
    void runCheck();
    clearTimeout(trailing);
    trailing = setTimeout(() => void runCheck(), options.trailingRecheckMs);
    trailing.unref();
  };

  const dir = dirname(options.path);
  const watcher: FSWatcher = chokidarWatch(dir, {
    depth: 0,
    ignoreInitial: true,
    // We never want chokidar's unlink/add merging delay: any event is only a hint.
    atomic: false,
    persistent: false,
    // Every commit creates and removes a lock directory, a backup temp and a write temp next to the document.
    // Left unfiltered, chokidar stats each one and adds (then drops) an fs.watch per temp file, in every
    // watching process, on every commit; that CPU competed with the writer and stretched propagation.
    // See bench/groups/store.mjs (store.propagation.*).
    ignored: (path: string) => path !== dir && basename(path) !== name,
  });
  // `raw` fires straight from fs.watch, ahead of chokidar's own stat and throttling. Only the document's own
  // name matters: a commit becomes visible by the rename onto it, and lock or temp events re-read an unchanged
  // file. An event without a name still counts, and the trailing re-check and stat poll still back this up.
  watcher.on("raw", (_event, path) => {
    if (typeof path !== "string" || path === "" || basename(path) === name) hint();
  });
  watcher.on("all", (_event, path) => {
    if (basename(path) === name) hint();
  });
  watcher.on("error", () => {
    // Events are hints; the stat poll below still converges if the watcher fails.
  });
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));

  const poll = setInterval(() => {
    stat(options.path, { bigint: true }).then(
      (info) => {
        const signature = `${info.ino}:${info.mtimeNs}:${info.size}`;
        if (signature !== lastSignature) {
          lastSignature = signature;
          void runCheck();
        }
      },
      () => undefined,
    );
  }, options.pollIntervalMs);
  poll.unref();

  return {
    ready,
    async close() {
      closed = true;
      clearTimeout(trailing);
      clearInterval(poll);
      await watcher.close();
    },
  };
}
