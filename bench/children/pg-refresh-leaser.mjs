// One process of refresh.pg.singleflight: opens the PostgreSQL pool with the refresher (token endpoint from
// CREDPOOL_ANTHROPIC_TOKEN_URL), says ready, and on "go" leases once and reports the token it got.
import { createRefresher, openPool } from "@credpool/pool-core";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { failOnError, nextMessage, readFlags, send, sleep } from "./ipc.mjs";

failOnError();
const flags = readFlags("url", "schema");
const backend = createPostgresBackend({ url: flags.url, schema: flags.schema, lockTimeoutMs: 60_000 });
const refresher = createRefresher();
const pool = await openPool({ backend, refresher: refresher.ensureFresh });
await sleep(300);
send({ type: "ready" });
await nextMessage("go");
const lease = await pool.lease("anthropic");
send({ type: "leased", token: lease.token });
await lease.release();
await pool.close();
await backend.close();
process.exit(0);
