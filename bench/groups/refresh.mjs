// The refresh group: 16 processes find the same expired OAuth credential at once. How many token calls reach the
// provider (target 1), and how long until all 16 hold the new token, against one process refreshing alone
// (target: at most 2x). The fake token server answers after 200 ms, like a real provider on a good day.
// Targets come from issue 4, "Benchmarks".
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileBackend } from "@credpool/pool-core";
import { startFakeTokenServer } from "../../packages/pool-testkit/src/fake-token-server.mjs";
import { forkChild, startTogether, stopChildren } from "../lib/children.mjs";
import { median, round } from "../lib/stats.mjs";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const leaserScript = join(benchDir, "children", "refresh-leaser.mjs");

const LATENCY_MS = 200;
const PROCESSES = 16;
const ROUNDS = 7;

function log(line) {
  process.stderr.write(`[refresh] ${line}\n`);
}

/** A fresh pool holding one expired OAuth credential from a new token family (also bench/lib/fanout.mjs). */
export async function seedPool(path, server) {
  const tokens = server.issue();
  const backend = createFileBackend({ path });
  await backend.update((doc) => {
    doc.providers.anthropic = {
      credentials: [
        {
          id: "bench-oauth",
          label: "bench",
          provider: "anthropic",
          kind: "oauth",
          priority: 0,
          source: "manual",
          secrets: {
            accessToken: tokens.accessToken,
            refreshToken: tokens.refreshToken,
            expiresAt: Date.now() - 60_000,
          },
          tokenGeneration: 0,
          status: { state: "ok" },
          usage: { requests: 0, failures: 0 },
        },
      ],
    };
  });
  await backend.close();
  return tokens;
}

/** One round: `count` processes lease the expired credential at a start barrier. */
async function measureRound(root, server, count, index) {
  // A directory per round: every child watches the pool's directory, so earlier rounds' files stay out of its way.
  const roundDir = join(root, `round-${count}-${index}`);
  await mkdir(roundDir);
  const path = join(roundDir, "pool.json");
  const tokens = await seedPool(path, server);
  const callsBefore = server.calls.length;
  const env = { CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl };
  const children = Array.from({ length: count }, () => forkChild(leaserScript, ["--pool", path], { env }));
  try {
    const goAt = await startTogether(children);
    const leases = await Promise.all(children.map((child) => child.waitFor((m) => m.type === "leased")));
    await Promise.all(children.map((child) => child.exited));
    const issued = server.current(tokens.family);
    const wrong = leases.filter((lease) => lease.token !== issued.accessToken).length;
    if (wrong > 0) throw new Error(`${wrong} of ${count} processes did not end up with the new access token`);
    const wallMs = Math.max(...leases.map((lease) => lease.heldAt)) - goAt;
    if (process.env.BENCH_REFRESH_DEBUG) {
      log(
        `held at (ms after go): ${leases
          .map((lease) => Math.round(lease.heldAt - goAt))
          .sort((a, b) => a - b)
          .join(" ")}`,
      );
      log(
        `cpu ms: ${leases
          .map((lease) => Math.round(lease.cpuMs))
          .sort((a, b) => a - b)
          .join(" ")}`,
      );
    }
    return { wallMs, calls: server.calls.length - callsBefore };
  } finally {
    await stopChildren(children);
  }
}

export async function run(report) {
  // Next to the repository, not in os.tmpdir(): /tmp is often tmpfs, where fsync is free and the figures lie.
  const parent = join(benchDir, "..", ".tmp");
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, "bench-refresh-"));
  const server = await startFakeTokenServer({ latencyMs: LATENCY_MS });
  try {
    const single = [];
    const contended = [];
    let worstCalls = 0;
    // One untimed round of each warms the disk cache and this process before anything is measured.
    await measureRound(root, server, 1, "warmup");
    await measureRound(root, server, PROCESSES, "warmup");
    // Interleaved so drift in machine load affects both figures alike.
    for (let index = 0; index < ROUNDS; index++) {
      const alone = await measureRound(root, server, 1, index);
      if (alone.calls !== 1) throw new Error(`a lone refresh made ${alone.calls} token calls`);
      single.push(alone.wallMs);
      const many = await measureRound(root, server, PROCESSES, index);
      worstCalls = Math.max(worstCalls, many.calls);
      contended.push(many.wallMs);
      log(
        `round ${index + 1}: single ${round(alone.wallMs)} ms, ${PROCESSES} processes ${round(many.wallMs)} ms, ${many.calls} call(s)`,
      );
    }
    server.assertNoReuse();
    const singleMs = median(single);
    const contendedMs = median(contended);
    report("refresh.singleflight.token_calls", worstCalls);
    report("refresh.singleflight.wall_ms", round(contendedMs, 1));
    report("refresh.single.wall_ms", round(singleMs, 1));
    report("refresh.singleflight.vs_single", round(contendedMs / singleMs, 2));
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
}
