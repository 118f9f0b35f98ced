// Messages between a file backend (main thread) and the commit worker that does its locked I/O synchronously.

/** An errno-style failure, carried across the thread boundary as plain data. */
export interface ErrorInfo {
  readonly message: string;
  readonly code?: string;
  readonly syscall?: string;
  readonly path?: string;
}

export interface AcquireRequest {
  readonly op: "acquire";
  readonly id: number;
  readonly path: string;
  readonly lockPath: string;
  readonly staleMs: number;
  readonly timeoutMs: number;
  readonly followSymlink: boolean;
  /** The identity of the file this process last read or wrote: a file that still has it is not read again. */
  readonly knownIdentity: string | null;
  /** Remove temp files a crashed writer left, once the lock is held. */
  readonly removeOrphans: boolean;
}

/** What a commit publishes, with what the fence checks. */
export interface PublishInput {
  /** The document as UTF-8, in shared memory so that posting it to the worker copies nothing. */
  readonly data: Uint8Array;
  readonly mode: number;
  /** The identity the document was read from: unchanged at publish time means its rev is still `expectedRev`. */
  readonly readIdentity: string | null;
  readonly expectedRev: number;
  /** The rev a missing file counts as. */
  readonly emptyRev: number;
  /** Where to keep the replaced revision, or null for no backup. */
  readonly backupPath: string | null;
}

export interface PublishRequest extends PublishInput {
  readonly op: "publish";
  readonly id: number;
}

/**
 * An acquire that, when the file still has `knownIdentity`, publishes `input` at once: one message for a commit
 * whose base this process already held. Otherwise the lock stays held, as after an acquire.
 */
export interface CommitRequest extends Omit<AcquireRequest, "op" | "removeOrphans"> {
  readonly op: "commit";
  readonly knownIdentity: string;
  readonly input: PublishInput;
}

export interface ReleaseRequest {
  readonly op: "release";
  readonly id: number;
}

export type WorkerRequest = AcquireRequest | PublishRequest | CommitRequest | ReleaseRequest;

export type ReadOutcome =
  | { readonly kind: "unchanged" }
  | { readonly kind: "missing" }
  | { readonly kind: "file"; readonly text: string; readonly identity: string }
  | { readonly kind: "symlink"; readonly error: ErrorInfo }
  | { readonly kind: "not-file"; readonly fileType: string }
  | { readonly kind: "error"; readonly error: ErrorInfo };

export type AcquireReply =
  | { readonly ok: true; readonly waitedMs: number; readonly read: ReadOutcome }
  | { readonly ok: false; readonly reason: "timeout"; readonly waitedMs: number; readonly holder: string }
  | { readonly ok: false; readonly reason: "io"; readonly error: ErrorInfo };

export type PublishReply =
  | { readonly ok: true; readonly identity: string | null }
  | { readonly ok: false; readonly reason: "compromised"; readonly error: ErrorInfo }
  | { readonly ok: false; readonly reason: "fence"; readonly diskRev: number }
  | { readonly ok: false; readonly reason: "reread" | "write" | "dirsync"; readonly error: ErrorInfo };

/** `published` is there when the file was unchanged and the commit was published (or failed to be). */
export interface CommitReply {
  readonly acquired: AcquireReply;
  readonly published?: PublishReply;
}

export type WorkerReply =
  | ({ readonly id: number; readonly op: "acquire" } & { readonly reply: AcquireReply })
  | ({ readonly id: number; readonly op: "commit" } & { readonly reply: CommitReply })
  | ({ readonly id: number; readonly op: "publish" } & { readonly reply: PublishReply })
  | { readonly id: number; readonly op: "release"; readonly reply: { readonly ok: true } }
  | { readonly id: number; readonly op: "crash"; readonly reply: { readonly error: ErrorInfo } };

export function toErrorInfo(error: unknown): ErrorInfo {
  const e = error as { message?: unknown; code?: unknown; syscall?: unknown; path?: unknown };
  return {
    message: typeof e?.message === "string" ? e.message : String(error),
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
    ...(typeof e?.syscall === "string" ? { syscall: e.syscall } : {}),
    ...(typeof e?.path === "string" ? { path: e.path } : {}),
  };
}

/** The errno-shaped Error an ErrorInfo stands for, so `errnoCode()` and messages read as before. */
export function fromErrorInfo(info: ErrorInfo): Error {
  return Object.assign(new Error(info.message), info);
}
