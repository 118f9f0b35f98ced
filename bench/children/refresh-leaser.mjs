// One process of the refresh bench: opens the pool with the refresher (token endpoint from
// CREDPOOL_ANTHROPIC_TOKEN_URL), says ready, and on "go" leases once and reports when it held the token.
import { createFileBackend, createRefresher, openPool } from "@credpool/pool-core";
import { failOnError, nextMessage, readFlags, send, sharedNow, sleep } from "./ipc.mjs";

failOnError();
// --hold 1: keep the lease until the parent says "release", as an agent does while its request runs.
const flags = readFlags("pool", "hold");
const backend = createFileBackend({ path: flags.pool, lockTimeoutMs: 60_000 });
const refresher = createRefresher();
const pool = await openPool({ backend, refresher: refresher.ensureFresh });
// openPool does not wait for its directory watcher's initial scan; let set-up finish before the barrier, so the
// figure measures the refresh and not 16 processes still starting.
await sleep(300);
send({ type: "ready" });
await nextMessage("go");
const cpu0 = process.cpuUsage();
const lease = await pool.lease("anthropic");
const heldAt = sharedNow();
const cpu = process.cpuUsage(cpu0);
send({ type: "leased", token: lease.token, heldAt, cpuMs: (cpu.user + cpu.system) / 1000 });
if (flags.hold) await nextMessage("release");
await lease.release();
await pool.close();
await backend.close();
process.exit(0);
