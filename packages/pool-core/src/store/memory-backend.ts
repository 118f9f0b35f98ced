// A pool kept in memory: for tests of code built on the pool, and anywhere a disk is not wanted. Handles opened
// with the same `name` share one document, locks and watchers, the way processes share a pool file.
import { z } from "zod";
import { PoolError, fromZodError } from "../errors.js";
import type { DocumentChange, LockOptions, Mutator, NamedLock, ReadResult } from "./backend.js";
import type { PoolBackend } from "./index.js";
import { createEmptyPoolDocument, poolDocumentSchema, type PoolDocument } from "./schema.js";

export const memoryBackendOptionsSchema = z.strictObject({
  /**
   * Handles with the same name share one document, which outlives them for the rest of the process, as a file
   * outlives the processes that open it. Without a name the document is private to the handle.
   */
  name: z.string().min(1).optional(),
  /** How long lock() waits by default, as the file backend's lockTimeoutMs. */
  lockTimeoutMs: z.number().int().positive().max(600_000).default(10_000),
});
export type MemoryBackendOptions = z.input<typeof memoryBackendOptionsSchema>;

interface LockWaiter {
  grant: () => void;
}

interface SharedStore {
  doc: PoolDocument;
  readonly listeners: Set<(previousRev: number, doc: PoolDocument) => void>;
  readonly locks: Map<string, LockWaiter[]>;
}

const namedStores = new Map<string, SharedStore>();

function openStore(name: string | undefined): SharedStore {
  const existing = name === undefined ? undefined : namedStores.get(name);
  const store = existing ?? { doc: createEmptyPoolDocument(), listeners: new Set(), locks: new Map() };
  if (name !== undefined) namedStores.set(name, store);
  return store;
}

export function createMemoryBackend(options: MemoryBackendOptions = {}): PoolBackend {
  const parsed = memoryBackendOptionsSchema.safeParse(options);
  if (!parsed.success) throw fromZodError("E_INVALID_OPTIONS", "Invalid memory backend options", parsed.error);
  const { name, lockTimeoutMs } = parsed.data;
  const location = `memory:${name ?? "private"}`;
  const store = openStore(name);
  const ownListeners = new Set<(previousRev: number, doc: PoolDocument) => void>();
  let closed = false;

  async function read(): Promise<ReadResult<PoolDocument>> {
    await Promise.resolve();
    return { doc: structuredClone(store.doc), rev: store.doc.rev };
  }

  async function update(fn: Mutator<PoolDocument>): Promise<PoolDocument> {
    if (closed) throw new PoolError("E_CLOSED", `The pool backend ${location} is closed.`);
    // Asynchronous like every other backend, so callers cannot come to rely on a commit finishing in the same tick.
    await Promise.resolve();
    const current = store.doc;
    const draft = structuredClone(current);
    const result = fn(draft);
    if (result !== undefined && typeof (result as { then?: unknown }).then === "function") {
      // See test/backend-conformance/suite.ts ("without leaving an unhandled rejection").
      (result as unknown as PromiseLike<unknown>).then(undefined, () => undefined);
      throw new PoolError("E_USAGE", "update() mutators must be synchronous; do async work outside the transaction.");
    }
    const checked = poolDocumentSchema.safeParse(result ?? draft);
    if (!checked.success)
      throw fromZodError("E_POOL_INVALID", `The update would make ${location} invalid`, checked.error);
    if (JSON.stringify(checked.data) === JSON.stringify(current)) return structuredClone(current);
    const committed: PoolDocument = { ...checked.data, rev: current.rev + 1, updatedAt: new Date().toISOString() };
    store.doc = committed;
    for (const listener of store.listeners) listener(current.rev, committed);
    return structuredClone(committed);
  }

  function watch(onChange: (change: DocumentChange<PoolDocument>) => void): () => void {
    let lastSeenRev = -1;
    const listener = (previousRev: number, doc: PoolDocument): void => {
      const change = {
        previousRev: lastSeenRev < 0 ? previousRev : lastSeenRev,
        rev: doc.rev,
        doc: structuredClone(doc),
      };
      lastSeenRev = doc.rev;
      try {
        onChange(change);
      } catch {
        // A listener's bug must not stop the others from converging.
      }
    };
    store.listeners.add(listener);
    ownListeners.add(listener);
    return () => {
      store.listeners.delete(listener);
      ownListeners.delete(listener);
    };
  }

  async function lock(lockName: string, lockOptions: LockOptions = {}): Promise<NamedLock> {
    if (!/^[\w.:@-]{1,128}$/.test(lockName)) {
      throw new PoolError(
        "E_USAGE",
        `Invalid lock name ${JSON.stringify(lockName)}: use letters, digits and . : @ _ -`,
      );
    }
    const timeoutMs = lockOptions.timeoutMs ?? lockTimeoutMs;
    // The queue's head holds the lock; the rest wait in order.
    const queue = store.locks.get(lockName) ?? [];
    store.locks.set(lockName, queue);
    await new Promise<void>((resolve, reject) => {
      const waiter: LockWaiter = { grant: () => undefined };
      queue.push(waiter);
      if (queue[0] === waiter) return resolve();
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(waiter), 1);
        reject(
          new PoolError(
            "E_LOCK_TIMEOUT",
            `Timed out after ${timeoutMs} ms waiting for lock ${lockName} on ${location}.`,
          ),
        );
      }, timeoutMs);
      waiter.grant = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const holder = queue[0];
    let released = false;
    return {
      name: lockName,
      // Nothing can take a memory lock from its holder, so this never aborts.
      signal: new AbortController().signal,
      release() {
        if (released) return Promise.resolve();
        released = true;
        if (queue[0] === holder) queue.shift();
        if (queue.length === 0) store.locks.delete(lockName);
        else queue[0]?.grant();
        return Promise.resolve();
      },
    };
  }

  function close(): Promise<void> {
    if (closed) return Promise.resolve();
    closed = true;
    for (const listener of ownListeners) store.listeners.delete(listener);
    ownListeners.clear();
    return Promise.resolve();
  }

  return {
    kind: "memory",
    location,
    // lock: no other process can reach this store, and lock() excludes every handle on it. groupCommit is false:
    // each update() commits on its own, since there is no I/O to share.
    capabilities: { watch: true, lock: true, groupCommit: false },
    read,
    update,
    watch,
    lock,
    close,
  };
}
