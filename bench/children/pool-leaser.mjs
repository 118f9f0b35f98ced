// Load generator for lease.cross_process: leases and releases (outcome ok) on capped credentials, one at a time,
// for `seconds` after "go", and reports how many cycles completed.
import { isPoolError, openPool } from "@credpool/pool-core";
import { failOnError, nextMessage, readFlags, send, sharedNow } from "./ipc.mjs";

failOnError();
const flags = readFlags("pool", "seconds");
const seconds = Number(flags.seconds ?? 3);
let writes = 0;
const lockWaits = [];
const commits = [];
const pool = await openPool({
  // Generous: a lock timeout would fail the bench, and this measures throughput, not tail waits.
  file: {
    path: flags.pool,
    lockTimeoutMs: 120_000,
    hooks: {
      onWrite: (info) => {
        writes++;
        lockWaits.push(info.lockWaitMs);
        commits.push(info.commitMs);
      },
    },
  },
});
// Warm the code path (and the fs caches) before the barrier.
await (await pool.lease("bench")).release();
send({ type: "ready" });
const { goAt } = await nextMessage("go");

let cycles = 0;
let refused = 0;
const deadline = goAt + seconds * 1000;
writes = 0;
lockWaits.length = 0;
commits.length = 0;
while (sharedNow() < deadline) {
  try {
    const lease = await pool.lease("bench");
    await lease.release("ok");
    cycles++;
  } catch (error) {
    if (!isPoolError(error, "E_NO_CREDENTIAL")) throw error;
    refused++;
  }
}
const doneAt = sharedNow();
await pool.close();
send({ type: "done", doneAt, cycles, refused, writes, lockWaits, commits });
process.disconnect();
