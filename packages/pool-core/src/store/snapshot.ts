// An in-memory copy of the document that follows every commit, from this process or any other.
import { PoolError } from "../errors.js";
import type { DocumentBackend, DocumentChange, DocumentHeader } from "./backend.js";

export interface Snapshot<D extends DocumentHeader> {
  /** The newest document seen; never older than what this process committed. */
  readonly doc: D;
  readonly rev: number;
  /** Subscribes to newer revs. Returns an unsubscribe function. */
  onChange(listener: (change: DocumentChange<D>) => void): () => void;
  /** Resolves once `rev` is at least `rev` (or rejects after `timeoutMs`). */
  waitForRev(rev: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function openSnapshot<D extends DocumentHeader>(backend: DocumentBackend<D>): Promise<Snapshot<D>> {
  // The snapshot learns of every commit, its own included, only through watch(): without it the pool would select
  // from the document it opened with forever. See packages/pool-core/test/store/memory-backend.test.ts.
  if (!backend.capabilities.watch) {
    throw new PoolError(
      "E_INVALID_OPTIONS",
      `The ${backend.kind} backend at ${backend.location} cannot watch its document (capabilities.watch is false); a pool needs one that can.`,
    );
  }
  let { doc } = await backend.read();
  const listeners = new Set<(change: DocumentChange<D>) => void>();
  const waiters = new Set<{ rev: number; resolve: () => void }>();

  const stop = backend.watch((change) => {
    if (change.rev <= doc.rev) return;
    const previousRev = doc.rev;
    doc = change.doc;
    for (const waiter of waiters) {
      if (doc.rev >= waiter.rev) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
    const event = { previousRev, rev: doc.rev, doc };
    for (const listener of listeners) listener(event);
  });

  return {
    get doc() {
      return doc;
    },
    get rev() {
      return doc.rev;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitForRev(rev, timeoutMs = 5000) {
      if (doc.rev >= rev) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          rev,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`rev ${rev} not seen within ${timeoutMs} ms (at ${doc.rev})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close() {
      stop();
      listeners.clear();
    },
  };
}
