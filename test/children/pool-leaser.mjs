// Takes leases from a shared pool and logs each one: which credential, and the interval it was held.
// --leases N takes N leases (one at a time); --seconds S keeps leasing until S seconds have passed, backing off
// briefly (up to --backoff ms) whenever every slot is taken. An interval starts once lease() has resolved and ends before release() is
// called, on CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares.
import { setTimeout as sleep } from "node:timers/promises";
import { isPoolError, openPool } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const provider = flags.provider ?? "anthropic";
const leases = Number(flags.leases ?? 0);
const seconds = Number(flags.seconds ?? 0);
const holdMs = Number(flags.hold ?? 0);
const backoffMs = Number(flags.backoff ?? 5);
const ttlMs = flags.ttl === undefined ? undefined : Number(flags.ttl);
const micros = () => Number(process.hrtime.bigint() / 1000n);

const writes = { count: 0, lockWaitMs: 0, commitMs: 0 };
const pool = await openPool({
  file: {
    path: flags.pool,
    lockTimeoutMs: 60_000,
    hooks: {
      onWrite: (info) => {
        writes.count++;
        writes.lockWaitMs += info.lockWaitMs;
        writes.commitMs += info.commitMs;
      },
    },
  },
  ...(flags.flush === undefined ? {} : { usageFlushMs: Number(flags.flush) }),
});
await waitForGo();

const picks = [];
const intervals = [];
let refused = 0;
const deadline = Date.now() + seconds * 1000;
const more = () => (seconds > 0 ? Date.now() < deadline : picks.length < leases);
while (more()) {
  let lease;
  try {
    lease = await pool.lease(provider, ttlMs === undefined ? {} : { ttlMs });
  } catch (error) {
    if (!isPoolError(error, "E_NO_CREDENTIAL") || seconds === 0) throw error;
    refused++;
    await sleep(1 + Math.random() * backoffMs);
    continue;
  }
  const start = micros();
  picks.push(lease.credentialId);
  if (holdMs > 0) await sleep(Math.random() * holdMs);
  intervals.push([start, micros()]);
  await lease.release("ok");
}
// Graceful close flushes the usage counters this process still holds in memory.
await pool.close();
emit({ done: true, picks, intervals, refused, writes });
process.exit(0);
