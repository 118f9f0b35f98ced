// `credpool doctor` on a PostgreSQL store: the server answers, the schema version, lock rows past their expiry,
// and that a NOTIFY reaches a listener.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { parseOptions } from "@credpool/pool-core";
import { describeServer, storeError } from "./errors.js";
import { connectionConfig, postgresBackendOptionsSchema, type PostgresBackendOptions } from "./postgres-backend.js";
import { SCHEMA_VERSION, ident } from "./schema.js";

/** The same shape as core's DoctorFinding. */
export interface StoreFinding {
  readonly check: string;
  readonly severity: "ok" | "warning" | "error";
  readonly message: string;
  readonly fix?: string;
}

export async function inspectPostgresStore(
  rawOptions: Omit<PostgresBackendOptions, "document">,
): Promise<StoreFinding[]> {
  const options = parseOptions(postgresBackendOptionsSchema, rawOptions, "PostgreSQL store options");
  const url = new URL(options.url);
  const server = describeServer(url);
  const secret = url.password === "" ? undefined : decodeURIComponent(url.password);
  const s = ident(options.schema);
  const findings: StoreFinding[] = [];
  const client = new pg.Client(connectionConfig(options));
  const listener = new pg.Client(connectionConfig(options));
  client.on("error", () => undefined);
  listener.on("error", () => undefined);
  try {
    try {
      await client.connect();
      const version = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      findings.push({
        check: "store-server",
        severity: "ok",
        message: `PostgreSQL ${version.rows[0]?.v ?? "?"} at ${server} answers.`,
      });
    } catch (error) {
      findings.push({
        check: "store-server",
        severity: "error",
        message: storeError(error, "connect", server, secret).message,
        fix: "Check the URL, that the server runs, and the password (PGPASSWORD, ~/.pgpass or store.passwordFile).",
      });
      return findings;
    }

    const exists = await client.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_version'",
      [options.schema],
    );
    if (exists.rowCount === 0) {
      findings.push({
        check: "store-schema",
        severity: "warning",
        message: `The schema ${options.schema} has no credpool tables yet.`,
        fix: "Run `credpool init` (or `credpool store copy --to URL`) to create them.",
      });
    } else {
      const row = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_version`);
      const version = row.rows[0]?.v ?? 0;
      findings.push(
        version > SCHEMA_VERSION
          ? {
              check: "store-schema",
              severity: "error",
              message: `The schema ${options.schema} is at version ${version}, newer than this credpool knows (${SCHEMA_VERSION}).`,
              fix: "Upgrade credpool on this host.",
            }
          : {
              check: "store-schema",
              severity: "ok",
              message:
                version === SCHEMA_VERSION
                  ? `The schema ${options.schema} is at version ${version}.`
                  : `The schema ${options.schema} is at version ${version}; the next use migrates it to ${SCHEMA_VERSION}.`,
            },
      );
      const stale = await client.query<{ document: string; name: string; owner: string; ago: string }>(
        `SELECT document, name, owner, round(extract(epoch FROM clock_timestamp() - expires_at))::text AS ago
           FROM ${s}.locks WHERE expires_at < clock_timestamp() ORDER BY expires_at`,
      );
      findings.push(
        stale.rows.length === 0
          ? { check: "store-locks", severity: "ok", message: "No lock row is past its expiry." }
          : {
              check: "store-locks",
              severity: "warning",
              message:
                `${stale.rows.length} lock row(s) past their expiry: ` +
                stale.rows.map((r) => `${r.document}/${r.name} held by ${r.owner}, expired ${r.ago} s ago`).join("; ") +
                ". Their holders stopped renewing (crashed, paused or cut off).",
              fix: "Nothing to do: the next process that wants such a lock takes it over.",
            },
      );
    }

    // A round trip on a private channel: proves LISTEN/NOTIFY work through whatever sits between us (a pooler in
    // transaction mode drops them), which the watchers rely on to see commits quickly.
    const channel = `credpool_doctor_${randomBytes(6).toString("hex")}`;
    await listener.connect();
    await listener.query(`LISTEN ${ident(channel)}`);
    const delivered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      listener.on("notification", (message) => {
        if (message.channel === channel) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    await client.query("SELECT pg_notify($1, 'ping')", [channel]);
    findings.push(
      (await delivered)
        ? { check: "store-notify", severity: "ok", message: "NOTIFY reaches a listener." }
        : {
            check: "store-notify",
            severity: "warning",
            message: "A NOTIFY was not delivered within 3 s; watchers fall back to polling every few seconds.",
            fix: "Connect directly or through a session-mode pooler; transaction-mode poolers drop LISTEN.",
          },
    );
    return findings;
  } finally {
    await client.end().catch(() => undefined);
    await listener.end().catch(() => undefined);
  }
}
