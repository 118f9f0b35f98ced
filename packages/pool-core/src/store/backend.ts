// The backend contract every pool store implements; see test/backend-conformance for what it promises.

/** Every stored document carries this header; `rev` rises by exactly one per commit. */
export interface DocumentHeader {
  schemaVersion: number;
  rev: number;
  updatedAt: string;
}

/**
 * What a backend can do, checked by core rather than guessed. `watch` is required: the snapshot (and so the pool)
 * follows the document only through watch(), and openSnapshot refuses a backend without it. `lock` and
 * `groupCommit` describe the backend for its callers and for the conformance suite (which skips the group-commit
 * test without it); the pool works either way, since every backend's lock() excludes all handles on its store.
 */
export interface BackendCapabilities {
  /** `watch()` delivers changes made by other processes. */
  readonly watch: boolean;
  /** `lock(name)` excludes other processes, not just other callers in this one. */
  readonly lock: boolean;
  /** Concurrent `update()` calls share one commit. */
  readonly groupCommit: boolean;
}

export interface ReadResult<D> {
  readonly doc: D;
  readonly rev: number;
}

/**
 * A transaction body. It gets a private copy of the freshest document and either mutates it or returns a
 * replacement. It must be synchronous and a pure function of that copy: it may run again on newer state.
 */
export type Mutator<D> = (draft: D) => D | undefined | void;

export interface DocumentChange<D> {
  readonly previousRev: number;
  readonly rev: number;
  readonly doc: D;
}

export interface NamedLock {
  readonly name: string;
  /** Aborted if the lock was lost while held (the holder was paused past the stale threshold). */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

export interface LockOptions {
  timeoutMs?: number;
}

export interface DocumentBackend<D extends DocumentHeader> {
  readonly kind: string;
  /** Where the document lives, for messages. */
  readonly location: string;
  readonly capabilities: BackendCapabilities;
  /** The current committed document; takes no lock. */
  read(): Promise<ReadResult<D>>;
  /** Applies `fn` to fresh state and commits it as one compare-and-swap on `rev`; resolves once durable. */
  update(fn: Mutator<D>): Promise<D>;
  /** Calls `onChange` for each newer `rev` seen, from any process. Returns a function that stops watching. */
  watch(onChange: (change: DocumentChange<D>) => void): () => void;
  /** A named critical section shared with every process using this backend, e.g. `refresh:<id>`. */
  lock(name: string, options?: LockOptions): Promise<NamedLock>;
  /** Flushes queued updates and stops watchers. */
  close(): Promise<void>;
}
