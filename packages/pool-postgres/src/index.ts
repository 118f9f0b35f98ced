// pool-postgres's public API: the PostgreSQL backend for the pool and for every other credpool document.
export {
  channelFor,
  createPostgresBackend,
  createPostgresDocumentBackend,
  createPostgresDocumentStore,
  postgresBackendOptionsSchema,
  type PostgresBackend,
  type PostgresBackendOptions,
  type PostgresDocumentSpec,
  type PostgresPoolBackend,
} from "./postgres-backend.js";
export { describeServer } from "./errors.js";
export { resolveDriverSsl, sslFromUrl } from "./tls.js";
export { SCHEMA_VERSION } from "./schema.js";
export { readStoreDocuments, writeStoreDocuments, type StoredDocument } from "./store-copy.js";
export { inspectPostgresStore, type StoreFinding } from "./inspect.js";
