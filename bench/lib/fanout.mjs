// The refresh fan-out of issue 15: 120 processes, each with `openPool` and the refresher as a delegate agent has,
// lease one expired OAuth credential at a start barrier. One token call must reach the provider (which answers in
// 200 ms), and all 120 should hold the new token within 2 s. Part `fanout` of bench/groups/store.mjs;
// BENCH_FANOUT_PROCESSES and BENCH_FANOUT_ROUNDS change the size (and the metric names follow), BENCH_FANOUT_DEBUG=1
// logs when each process held the token.
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { seedPool } from "../groups/refresh.mjs";
import { startFakeTokenServer } from "../../packages/pool-testkit/src/fake-token-server.mjs";
import { forkChild, startTogether, stopChildren } from "./children.mjs";
import { median, round } from "./stats.mjs";

const leaserScript = join(dirname(fileURLToPath(import.meta.url)), "..", "children", "refresh-leaser.mjs");

const LATENCY_MS = 200;
const PROCESSES = Number(process.env.BENCH_FANOUT_PROCESSES ?? 120);
const ROUNDS = Number(process.env.BENCH_FANOUT_ROUNDS ?? 3);
// Forking 120 Node processes on a small machine takes a while; none of it is measured.
const READY_TIMEOUT_MS = 180_000;

function log(line) {
  process.stderr.write(`[store] ${line}\n`);
}

async function measureRound(root, server, index) {
  // A directory per round: every child watches the pool's directory.
  const roundDir = join(root, `fanout-${index}`);
  await mkdir(roundDir);
  const path = join(roundDir, "pool.json");
  const tokens = await seedPool(path, server);
  const callsBefore = server.calls.length;
  const env = { CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl };
  const children = Array.from({ length: PROCESSES }, () =>
    forkChild(leaserScript, ["--pool", path, "--hold", "1"], { env }),
  );
  try {
    const goAt = await startTogether(children, { type: "go" }, READY_TIMEOUT_MS);
    const leases = await Promise.all(children.map((child) => child.waitFor((m) => m.type === "leased", 120_000)));
    // Held until all hold: the first ones' usage commits and exits would otherwise load the machine the others
    // are still waiting on, which a set of agents busy with their requests does not do.
    for (const child of children) child.send({ type: "release" });
    await Promise.all(children.map((child) => child.exited));
    const issued = server.current(tokens.family);
    const wrong = leases.filter((lease) => lease.token !== issued.accessToken).length;
    if (wrong > 0) throw new Error(`${wrong} of ${PROCESSES} processes did not end up with the new access token`);
    const held = leases.map((lease) => lease.heldAt - goAt).sort((a, b) => a - b);
    if (process.env.BENCH_FANOUT_DEBUG) {
      log(`fanout held at (ms after go): ${held.map((ms) => Math.round(ms)).join(" ")}`);
      const cpu = leases.map((lease) => Math.round(lease.cpuMs)).sort((a, b) => a - b);
      log(`fanout cpu ms: ${cpu.join(" ")}`);
    }
    return {
      allHeldMs: held[held.length - 1],
      medianHeldMs: median(held),
      calls: server.calls.length - callsBefore,
    };
  } finally {
    await stopChildren(children);
  }
}

export async function measureFanout(root, report) {
  const server = await startFakeTokenServer({ latencyMs: LATENCY_MS });
  try {
    const allHeld = [];
    let worstCalls = 0;
    for (let index = 0; index < ROUNDS; index++) {
      const r = await measureRound(root, server, index);
      worstCalls = Math.max(worstCalls, r.calls);
      allHeld.push(r.allHeldMs);
      log(
        `fanout round ${index + 1}: ${PROCESSES} processes, all held ${round(r.allHeldMs)} ms ` +
          `(median process ${round(r.medianHeldMs)} ms), ${r.calls} token call(s)`,
      );
    }
    server.assertNoReuse();
    log(`fanout all_held_ms per round: ${allHeld.map((ms) => round(ms)).join(", ")}`);
    report(`refresh.fanout${PROCESSES}.token_calls`, worstCalls);
    report(`refresh.fanout${PROCESSES}.all_held_ms`, round(median(allHeld), 1));
  } finally {
    await server.close();
  }
}
