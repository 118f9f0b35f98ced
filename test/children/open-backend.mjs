// The pool backend a child uses: the file at --pool, or with --pg-url the PostgreSQL backend (schema --pg-schema),
// so the same child runs against either store.
import { createFileBackend } from "@credpool/pool-core";

export async function openBackend(flags, fileOptions = {}) {
  if (flags["pg-url"] === undefined) return createFileBackend({ path: flags.pool, ...fileOptions });
  const { createPostgresBackend } = await import("@credpool/pool-postgres");
  return createPostgresBackend({
    url: flags["pg-url"],
    schema: flags["pg-schema"],
    lockTtlMs: Number(flags["lock-ttl"] ?? 10_000),
    lockTimeoutMs: fileOptions.lockTimeoutMs ?? 60_000,
  });
}
