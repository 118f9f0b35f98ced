// The PostgreSQL server the Postgres suites use: CREDPOOL_TEST_PG_URL, or the machine's local one. Each suite makes
// its own schema and drops it at the end, so files running side by side never share a table.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const PG_URL = process.env.CREDPOOL_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unreachable = await probe();
if (unreachable !== undefined) {
  // CI never skips: the server is part of the machine there, and a skip would hide a broken setup.
  if (process.env.CI === "true") {
    throw new Error(`PostgreSQL at ${PG_URL} is unreachable on CI (${unreachable}); set CREDPOOL_TEST_PG_URL.`);
  }
  console.warn(
    `Postgres suites skipped: no server at ${PG_URL} (${unreachable}); set CREDPOOL_TEST_PG_URL to run them.`,
  );
}

/** False when no server can be reached off CI; suites use `describe.skipIf(!PG_AVAILABLE)`. */
export const PG_AVAILABLE = unreachable === undefined;

/** A schema name no other suite or run uses. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
}

/** Runs one statement on a short-lived connection (test setup, fault injection, cleanup). */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  if (!PG_AVAILABLE) return;
  await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
