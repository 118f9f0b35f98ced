// The tables, created on first use under an advisory lock and moved forward by numbered migrations.
import type { ClientBase } from "pg";

/** Quotes an identifier; schema names are already restricted by the options schema, this is belt and braces. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Each entry moves the schema from version i to i + 1; never edit one that has shipped, add the next. */
export function migrations(schema: string): string[] {
  const s = ident(schema);
  return [
    `CREATE TABLE ${s}.documents (
       name text PRIMARY KEY,
       rev bigint NOT NULL CHECK (rev >= 0),
       doc jsonb NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now()
     );
     CREATE TABLE ${s}.locks (
       document text NOT NULL,
       name text NOT NULL,
       owner text NOT NULL,
       fence bigint NOT NULL,
       expires_at timestamptz NOT NULL,
       PRIMARY KEY (document, name)
     );
     CREATE SEQUENCE ${s}.lock_fence;`,
  ];
}

export const SCHEMA_VERSION = 1;

/** Creates or migrates `schema` in one transaction; concurrent first users serialize on an advisory lock. */
export async function ensureSchema(client: ClientBase, schema: string): Promise<number> {
  const s = ident(schema);
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`credpool-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_version (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const result = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${s}.schema_version`,
    );
    const current = result.rows[0]?.version ?? 0;
    const steps = migrations(schema);
    if (current > steps.length) {
      await client.query("ROLLBACK");
      return current;
    }
    for (let version = current + 1; version <= steps.length; version++) {
      await client.query(steps[version - 1] as string);
      await client.query(`INSERT INTO ${s}.schema_version (version) VALUES ($1)`, [version]);
    }
    await client.query("COMMIT");
    return steps.length;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
