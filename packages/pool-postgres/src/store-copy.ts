// Moving a store's documents in or out of PostgreSQL in one transaction, for `credpool store copy`.
import pg from "pg";
import { PoolError, parseOptions } from "@credpool/pool-core";
import { describeServer, storeError } from "./errors.js";
import {
  channelFor,
  connectionConfig,
  postgresBackendOptionsSchema,
  type PostgresBackendOptions,
} from "./postgres-backend.js";
import { ensureSchema, ident } from "./schema.js";

/** One stored document: its row name ("pool", "auth-state", "gateway-tokens") and its JSON, header included. */
export interface StoredDocument {
  readonly name: string;
  readonly doc: Record<string, unknown> & { rev: number };
}

async function withClient<T>(
  rawOptions: Omit<PostgresBackendOptions, "document">,
  action: string,
  fn: (client: pg.Client, schema: string) => Promise<T>,
): Promise<T> {
  const options = parseOptions(postgresBackendOptionsSchema, rawOptions, "PostgreSQL store options");
  const server = describeServer(new URL(options.url));
  const client = new pg.Client(connectionConfig(options));
  client.on("error", () => undefined);
  try {
    await client.connect();
    await ensureSchema(client, options.schema);
    return await fn(client, options.schema);
  } catch (error) {
    const url = new URL(options.url);
    throw storeError(error, action, server, url.password === "" ? undefined : decodeURIComponent(url.password));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every document in the schema, read in one snapshot. */
export function readStoreDocuments(options: Omit<PostgresBackendOptions, "document">): Promise<StoredDocument[]> {
  return withClient(options, "read the store", async (client, schema) => {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const result = await client.query<{ name: string; rev: string; doc: Record<string, unknown> }>(
      `SELECT name, rev, doc FROM ${ident(schema)}.documents ORDER BY name`,
    );
    await client.query("COMMIT");
    return result.rows.map((row) => ({ name: row.name, doc: { ...row.doc, rev: Number(row.rev) } }));
  });
}

/**
 * Writes `documents` in one transaction. A target that already holds any of them at rev > 0 is refused unless
 * `force`; a forced overwrite lands one rev above what was there, so no watcher sees rev go back.
 */
export function writeStoreDocuments(
  options: Omit<PostgresBackendOptions, "document">,
  documents: readonly StoredDocument[],
  { force = false }: { force?: boolean } = {},
): Promise<StoredDocument[]> {
  return withClient(options, "write the store", async (client, schema) => {
    const table = `${ident(schema)}.documents`;
    await client.query("BEGIN");
    try {
      const existing = await client.query<{ name: string; rev: string }>(
        `SELECT name, rev FROM ${table} WHERE name = ANY($1) FOR UPDATE`,
        [documents.map((d) => d.name)],
      );
      const revs = new Map(existing.rows.map((row) => [row.name, Number(row.rev)]));
      const occupied = [...revs].filter(([, rev]) => rev > 0);
      if (occupied.length > 0 && !force) {
        throw new PoolError(
          "E_CONFLICT",
          `The target schema ${schema} already holds ${occupied.map(([name, rev]) => `${name} (rev ${rev})`).join(", ")}; ` +
            "pass --force to overwrite it.",
        );
      }
      const written: StoredDocument[] = [];
      for (const { name, doc } of documents) {
        const before = revs.get(name);
        const rev = before === undefined ? doc.rev : Math.max(doc.rev, before + 1);
        const stored = { ...doc, rev };
        await client.query(
          `INSERT INTO ${table} (name, rev, doc) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET rev = EXCLUDED.rev, doc = EXCLUDED.doc, updated_at = now()`,
          [name, rev, JSON.stringify(stored)],
        );
        await client.query("SELECT pg_notify($1, $2)", [channelFor(schema), `${rev}:${name}`]);
        written.push({ name, doc: stored });
      }
      await client.query("COMMIT");
      return written;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  });
}
