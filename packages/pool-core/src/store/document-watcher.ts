// Turns directory events into "re-read now" hints; the file's rev, not the event, decides whether anything changed.
import { watch as fsWatch, type FSWatcher } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";

export interface DocumentWatcherOptions {
  /** The document file; its directory is what gets watched, because a rename replaces the file's inode. */
  path: string;
  /** Re-check once more this long after the last hint, to catch the tail of a write burst. */
  trailingRecheckMs: number;
  /** Slow stat poll, for filesystems where events are lost (network mounts, overflowed inotify queues). */
  pollIntervalMs: number;
  /** Re-reads the document and reports it; must not throw. */
  check: () => Promise<void>;
  /** Called when the document's lock (`<file>.lock`) comes or goes: a waiter for it can try again at once. */
  onLockChange?: () => void;
}

export interface DocumentWatcher {
  /** Resolves once the underlying watcher is listening. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function watchDocument(options: DocumentWatcherOptions): DocumentWatcher {
  const name = basename(options.path);
  const lockName = `${name}.lock`;
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

  // One fs.watch on the directory: a single inotify (FSEvents, ReadDirectoryChangesW) watch whose events name the
  // entry that changed. chokidar, used here before, also watched the file itself (an inode a commit replaces, so it
  // re-watched the new one after every rename, and the backup's hard link fired it too) and re-listed the directory
  // on events: with a hundred watching processes that was most of what a commit cost each of them, while the
  // writer waited for a core. See bench/lib/fanout.mjs (refresh.fanout120.*).
  const dir = dirname(options.path);
  let watcher: FSWatcher | null = null;
  const startWatching = (): void => {
    if (closed || watcher !== null) return;
    try {
      const started = fsWatch(dir, { persistent: false }, (_event, file) => {
        // Only the document's own name matters: a commit becomes visible by the rename onto it, and lock, temp
        // and backup entries come and go next to it on every commit. An event without a name still counts.
        if (file === null || file === name) hint();
        else if (file === lockName) options.onLockChange?.();
      });
      started.on("error", () => {
        // Events are hints: the stat poll converges meanwhile and watches the directory again.
        started.close();
        if (watcher === started) watcher = null;
      });
      watcher = started;
    } catch {
      // No directory yet, or it cannot be watched: the stat poll covers it, and tries again each time.
    }
  };
  startWatching();

  const poll = setInterval(() => {
    if (watcher === null) {
      startWatching();
      // A commit made while nothing watched need not change what the signature below compares: check once.
      if (watcher !== null) void runCheck();
    }
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
    // fs.watch listens once it returns.
    ready: Promise.resolve(),
    close() {
      closed = true;
      clearTimeout(trailing);
      clearInterval(poll);
      watcher?.close();
      watcher = null;
      return Promise.resolve();
    },
  };
}
