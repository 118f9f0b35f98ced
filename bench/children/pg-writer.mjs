// Load generator for store.pg.contended and store.pg.baseline: increments a counter `updates` times with `inflight`
// calls outstanding, through update() (group commit) or the naive protocol (one transaction per update).
import pg from "pg";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { failOnError, nextMessage, readFlags, runLanes, send, sharedNow } from "./ipc.mjs";

failOnError();
const flags = readFlags("url", "schema", "mode", "updates", "inflight");
const mode = flags.mode ?? "group";
const total = Number(flags.updates ?? 500);
const inflight = Number(flags.inflight ?? 32);
if (mode !== "naive" && mode !== "group") throw new Error(`unknown --mode ${mode}`);

const backend = createPostgresBackend({ url: flags.url, schema: flags.schema, lockTimeoutMs: 120_000 });
// The naive side gets the same number of connections as the backend's own pool (maxConnections, default 4).
const naivePool = new pg.Pool({ connectionString: flags.url, max: 4 });
const table = `"${flags.schema}".documents`;

function increment(doc) {
  doc.counter = (doc.counter ?? 0) + 1;
}

/** What a store without group commit does: a whole transaction per update. */
async function naiveUpdate() {
  const client = await naivePool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query(`SELECT rev, doc FROM ${table} WHERE name = 'pool' FOR UPDATE`);
    const doc = rows[0].doc;
    increment(doc);
    const rev = Number(rows[0].rev) + 1;
    doc.rev = rev;
    doc.updatedAt = new Date().toISOString();
    await client.query(`UPDATE ${table} SET rev = $1, doc = $2, updated_at = now() WHERE name = 'pool'`, [
      rev,
      JSON.stringify(doc),
    ]);
    await client.query("SELECT pg_notify($1, $2)", [`credpool_${flags.schema}`, `${rev}:pool`]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

const updateOnce = mode === "naive" ? naiveUpdate : () => backend.update(increment);
await backend.read();
await Promise.all(Array.from({ length: 4 }, () => naivePool.query("SELECT 1")));
send({ type: "ready" });
await nextMessage("go");

const { acked, errors } = await runLanes(total, inflight, updateOnce);
const doneAt = sharedNow();
await backend.close();
await naivePool.end();
send({ type: "done", doneAt, acked, errors });
process.disconnect();
