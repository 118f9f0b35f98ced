// The backend contract every pool store implements; see test/backend-conformance for what it promises.
import type { ZodType } from "zod";

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

/** The documents credpool keeps besides the pool, by their names in a shared store. */
export const STORED_DOCUMENT_NAMES = ["pool", "auth-state", "gateway-tokens", "usage"] as const;
export type StoredDocumentName = (typeof STORED_DOCUMENT_NAMES)[number];

/** What a backend needs to know about one kind of document: its schema, its empty state and a noun for messages. */
export interface StoredDocumentSpec<D extends DocumentHeader> {
  readonly schema: ZodType<D>;
  readonly empty: () => D;
  readonly noun: string;
}

/**
 * A store shared by several hosts (PostgreSQL) that keeps every document by name: the pool, the TOTP state, the
 * gateway's client tokens and the usage counts. Without one, each of them is a file under $CREDPOOL_HOME.
 */
export interface DocumentStore {
  readonly kind: string;
  /** Where the documents live, without any password, for messages. */
  readonly location: string;
  /** A backend for one document; the caller closes it. A document never written reads as `spec.empty()` at rev 0. */
  open<D extends DocumentHeader>(name: StoredDocumentName, spec: StoredDocumentSpec<D>): DocumentBackend<D>;
}
