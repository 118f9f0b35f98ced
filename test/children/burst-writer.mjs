// Writes in bursts: sequential commits back to back, then updates fired from 1 ms timers, ending on a burst's tail.
import { createFileBackend } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const bursts = Number(flags.bursts ?? 3);
const perBurst = Number(flags.perBurst ?? 50);
const commitTimes = [];
const backend = createFileBackend({
  path: flags.pool,
  lockTimeoutMs: 30_000,
  hooks: { onWrite: () => commitTimes.push(performance.now()) },
});
// Every committed document says which rev it is, so a watcher can tell a doc from a different rev apart.
const stamp = (draft) => {
  draft.stampedRev = draft.rev + 1;
  draft.updates = (draft.updates ?? 0) + 1;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await waitForGo();
let last;
for (let burst = 0; burst < bursts; burst++) {
  for (let i = 0; i < perBurst; i++) last = await backend.update(stamp);
  await sleep(20);
  const timed = [];
  for (let i = 0; i < perBurst; i++) {
    timed.push(backend.update(stamp));
    await sleep(1);
  }
  const committed = await Promise.all(timed);
  last = committed.reduce((a, b) => (b.rev > a.rev ? b : a), last);
  if (burst < bursts - 1) await sleep(20);
}
await backend.close();
const gaps = commitTimes.slice(1).map((t, i) => t - commitTimes[i]);
emit({ done: true, finalRev: last.rev, writes: commitTimes.length, gapsUnder5ms: gaps.filter((g) => g < 5).length });
process.exit(0);
