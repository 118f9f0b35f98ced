import type { DocumentBackend } from "./backend.js";
import type { PoolDocument } from "./schema.js";

export type PoolBackend = DocumentBackend<PoolDocument>;

export { STORED_DOCUMENT_NAMES } from "./backend.js";
export type {
  BackendCapabilities,
  DocumentStore,
  StoredDocumentName,
  StoredDocumentSpec,
  DocumentBackend,
  DocumentChange,
  DocumentHeader,
  LockOptions,
  Mutator,
  NamedLock,
  ReadResult,
} from "./backend.js";
export {
  createDocumentFileBackend,
  createFileBackend,
  fileBackendOptionsSchema,
  poolDocumentSpec,
  type DocumentSpec,
  type FileBackend,
  type FileBackendOptions,
  type WriteInfo,
} from "./file-backend.js";
export { createMemoryBackend, memoryBackendOptionsSchema, type MemoryBackendOptions } from "./memory-backend.js";
export { applyValidBatch } from "./batch.js";
export { prepareCommitWorker } from "./commit-io.js";
export { acquireFileLock, type FileLockOptions, type HeldFileLock } from "./file-lock.js";
export { fsyncDirectory, parseDocument, publishDocument, readDocumentText, serializeDocument } from "./json-file.js";
export { POOL_FILE_NAME, resolveCredpoolHome, resolvePoolOption, resolvePoolPath } from "./paths.js";
export * from "./schema.js";
export { openSnapshot, type Snapshot } from "./snapshot.js";
