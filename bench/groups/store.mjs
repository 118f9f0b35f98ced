// The store group: commit latency against the raw fs floor, multi-process throughput against the naive
// lock-per-update protocol, lost updates, and how fast (and whether) watcher processes see each commit.
// Targets come from issue 2, section 4.
import { mkdir, mkdtemp, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileBackend, serializeDocument } from "@credpool/pool-core";
import { forkChild, startTogether, stopChildren } from "../lib/children.mjs";
import { median, percentile, round } from "../lib/stats.mjs";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const childrenDir = join(benchDir, "children");

const SINGLE_WARMUP = 30;
const SINGLE_SAMPLES = 200;
const CONTENDED_PROCESSES = 8;
const CONTENDED_INFLIGHT = 32;
const CONTENDED_UPDATES = 4000;
const THROUGHPUT_ROUNDS = 3;
const WATCHERS = 4;
const PROPAGATION_SAMPLES = 240;
const BURSTS = 12;
const BURST_WRITES = 20;
const BURST_GAP_MS = 4;
const BURST_QUIET_MS = 500;

function log(line) {
  process.stderr.write(`[store] ${line}\n`);
}

/** A realistic pool: a few OAuth and API-key credentials with token-sized fake secrets, about 6 KB of JSON. */
function seedPool(doc) {
  const fake = (n, i) => `fake-${i}-`.padEnd(n, "x");
  const oauth = (i) => ({
    id: `anthropic-${i}`,
    label: `Claude account ${i}`,
    provider: "anthropic",
    kind: "oauth",
    priority: i,
    source: "claude-code",
    secrets: { accessToken: fake(108, i), refreshToken: fake(108, i), expiresAt: 1_900_000_000_000 },
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
    maxConcurrent: 4,
  });
  const apiKey = (i) => ({
    id: `openrouter-${i}`,
    label: `OpenRouter key ${i}`,
    provider: "openrouter",
    kind: "api_key",
    source: "manual",
    secrets: { apiKey: fake(73, i) },
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
  });
  doc.providers = {
    anthropic: { strategy: "round_robin", cursor: 0, credentials: Array.from({ length: 8 }, (_, i) => oauth(i)) },
    openrouter: { strategy: "least_used", credentials: Array.from({ length: 6 }, (_, i) => apiKey(i)) },
    bench: { credentials: [{ ...apiKey(0), id: "bench-0", provider: "bench" }] },
  };
}

async function createPool(root, name) {
  const path = join(root, name, "pool.json");
  const backend = createFileBackend({ path });
  await backend.update(seedPool);
  await backend.close();
  return path;
}

async function readCounter(path) {
  const backend = createFileBackend({ path });
  try {
    const { doc } = await backend.read();
    return doc.providers.bench.credentials[0].usage.requests;
  } finally {
    await backend.close();
  }
}

/** The floor: what any durable rename-based write costs on this disk, with nothing of ours around it. */
async function writeFloor(path, text, seq) {
  const temp = `${path}.${seq}.tmp`;
  const file = await open(temp, "w", 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function measureSingle(root, report) {
  const path = await createPool(root, "single");
  const floorPath = join(root, "floor", "pool.json");
  await mkdir(dirname(floorPath), { mode: 0o700 });
  const backend = createFileBackend({ path });
  let text = await readFile(path, "utf8");
  let seq = 0;
  const touch = (doc) => {
    doc.providers.bench.credentials[0].usage.requests += 1;
  };
  const store = [];
  const floor = [];
  const sampleStore = async (keep) => {
    const started = performance.now();
    const doc = await backend.update(touch);
    const elapsed = performance.now() - started;
    // The floor writes the bytes this very commit wrote (same size, same content).
    text = serializeDocument(doc);
    if (keep) store.push(elapsed);
  };
  const sampleFloor = async (keep) => {
    const started = performance.now();
    await writeFloor(floorPath, text, seq++);
    if (keep) floor.push(performance.now() - started);
  };
  try {
    for (let i = 0; i < SINGLE_WARMUP + SINGLE_SAMPLES; i++) {
      const keep = i >= SINGLE_WARMUP;
      // A/B then B/A, so drift and neighbours' noise land on both sides equally.
      if (i % 2 === 0) {
        await sampleStore(keep);
        await sampleFloor(keep);
      } else {
        await sampleFloor(keep);
        await sampleStore(keep);
      }
    }
  } finally {
    await backend.close();
  }
  const storeUs = median(store) * 1000;
  const floorUs = median(floor) * 1000;
  log(
    `single: update() p10/p50/p90 ${[10, 50, 90].map((p) => round(percentile(store, p) * 1000, 0)).join("/")} us, ` +
      `floor ${[10, 50, 90].map((p) => round(percentile(floor, p) * 1000, 0)).join("/")} us, ${text.length} bytes`,
  );
  report("store.single.commit_us", round(storeUs, 0));
  report("store.floor.commit_us", round(floorUs, 0));
  report("store.single.vs_floor", round(storeUs / floorUs, 2));
}

/** One throughput round: fresh pool, processes released together, timed from "go" to the last one done. */
async function runThroughput(root, name, mode, updates, inflight = CONTENDED_INFLIGHT) {
  const path = await createPool(root, name);
  const perProcess = Math.ceil(updates / CONTENDED_PROCESSES);
  const children = Array.from({ length: CONTENDED_PROCESSES }, () =>
    forkChild(join(childrenDir, "store-writer.mjs"), [
      "--pool",
      path,
      "--mode",
      mode,
      "--updates",
      String(perProcess),
      "--inflight",
      String(inflight),
    ]),
  );
  try {
    const goAt = await startTogether(children);
    const dones = await Promise.all(children.map((child) => child.waitFor((m) => m.type === "done", 600_000)));
    const elapsedMs = Math.max(...dones.map((d) => d.doneAt)) - goAt;
    const total = perProcess * CONTENDED_PROCESSES;
    const acked = dones.reduce((sum, d) => sum + d.acked, 0);
    const writes = dones.reduce((sum, d) => sum + d.writes, 0);
    const errors = {};
    for (const done of dones) {
      for (const [code, count] of Object.entries(done.errors)) errors[code] = (errors[code] ?? 0) + count;
    }
    const counter = await readCounter(path);
    await Promise.all(children.map((child) => child.exited));
    return { total, acked, writes, errors, counter, elapsedMs, perSecond: (total / elapsedMs) * 1000 };
  } finally {
    await stopChildren(children);
  }
}

function describeRound(label, r) {
  const errors = Object.keys(r.errors).length > 0 ? `, errors ${JSON.stringify(r.errors)}` : "";
  return (
    `${label}: ${r.total} updates in ${round(r.elapsedMs, 0)} ms = ${round(r.perSecond, 0)}/s, ` +
    `${r.writes} writes (${round(r.total / r.writes, 1)} updates/write), counter ${r.counter}${errors}`
  );
}

async function measureThroughput(root, report) {
  // The naive protocol is slow; time one small round first and size its rounds to keep the bench bearable.
  const probe = await runThroughput(root, "baseline-probe", "naive", 400);
  log(describeRound("baseline probe", probe));
  const baselineUpdates = probe.perSecond * 20 >= CONTENDED_UPDATES ? CONTENDED_UPDATES : 1600;
  const contended = [];
  const baseline = [];
  for (let round_ = 0; round_ < THROUGHPUT_ROUNDS; round_++) {
    const a = await runThroughput(root, `contended-${round_}`, "group", CONTENDED_UPDATES);
    log(describeRound(`contended round ${round_ + 1}/${THROUGHPUT_ROUNDS}`, a));
    contended.push(a);
    const b = await runThroughput(root, `baseline-${round_}`, "naive", baselineUpdates);
    log(describeRound(`baseline round ${round_ + 1}/${THROUGHPUT_ROUNDS}`, b));
    baseline.push(b);
  }
  // Not a metric, context for the ratio: the naive protocol with one update in flight per process (8 lock
  // contenders instead of 256) is the kindest baseline; printed so the ratio can be judged against it too.
  const serial = await runThroughput(root, "baseline-serial", "naive", 800, 1);
  log(describeRound("baseline with 1 in flight per process (context only)", serial));
  const contendedRate = median(contended.map((r) => r.perSecond));
  const baselineRate = median(baseline.map((r) => r.perSecond));
  // Missing = acknowledged or not, anything the final counter does not hold; every round starts from 0.
  const lost = contended.reduce((sum, r) => sum + (r.total - r.counter), 0);
  const baselineLost = baseline.reduce((sum, r) => sum + (r.total - r.counter), 0);
  if (baselineLost !== 0) log(`baseline lost ${baselineLost} updates (it should not: it holds the lock too)`);
  report("store.contended.updates_per_s", round(contendedRate, 0));
  report("store.baseline.updates_per_s", round(baselineRate, 0));
  report("store.contended.vs_baseline", round(contendedRate / baselineRate, 2));
  report("store.lost_updates", lost);
}

async function askAll(children, message, replyType, timeoutMs = 30_000) {
  const id = Math.random();
  for (const child of children) child.send({ ...message, id });
  return Promise.all(children.map((child) => child.waitFor((m) => m.type === replyType && m.id === id, timeoutMs)));
}

/** When each watcher first held `rev` or newer; undefined if it never did. */
function firstSeen(timeline, rev) {
  for (const [seenRev, at] of timeline) if (seenRev >= rev) return at;
  return undefined;
}

async function measurePropagation(root, report) {
  const path = await createPool(root, "propagation");
  const pacer = forkChild(join(childrenDir, "store-pacer.mjs"), ["--pool", path]);
  const watchers = Array.from({ length: WATCHERS }, () =>
    forkChild(join(childrenDir, "store-watcher.mjs"), ["--pool", path]),
  );
  const all = [pacer, ...watchers];
  try {
    await Promise.all(all.map((child) => child.waitFor((m) => m.type === "ready")));
    // Prime until every watcher's directory watcher is live: a commit must reach all of them quickly.
    for (let attempt = 0; ; attempt++) {
      const [committed] = await askAll([pacer], { type: "commit" }, "committed");
      const reached = await askAll(watchers, { type: "await-rev", rev: committed.rev, timeoutMs: 200 }, "reached");
      if (reached.every((r) => !r.timedOut)) break;
      if (attempt === 50) throw new Error("watchers never saw a commit within 200 ms; is fs watching broken?");
    }
    await askAll(watchers, { type: "dump", clear: true }, "timeline");

    log(`propagation: ${PROPAGATION_SAMPLES} commits 20-50 ms apart, ${WATCHERS} watcher processes`);
    const [paced] = await askAll(
      [pacer],
      { type: "paced", samples: PROPAGATION_SAMPLES, minGapMs: 20, maxGapMs: 50 },
      "paced-done",
      120_000,
    );
    const lastRev = paced.writes.at(-1).rev;
    await askAll(watchers, { type: "await-rev", rev: lastRev, timeoutMs: 5000 }, "reached");
    const timelines = await askAll(watchers, { type: "dump", clear: true }, "timeline");
    const latencies = [];
    let early = 0;
    let missing = 0;
    for (const { timeline } of timelines) {
      for (const write of paced.writes) {
        const seenAt = firstSeen(timeline, write.rev);
        if (seenAt === undefined) {
          missing++;
          continue;
        }
        // The rename makes a commit visible before update() resolves (directory fsync, unlock), so a watcher
        // can legitimately hold it "before" the commit; that is no latency at all.
        if (seenAt < write.committedAt) early++;
        latencies.push(Math.max(0, seenAt - write.committedAt));
      }
    }
    if (missing > 0) throw new Error(`${missing} (watcher, rev) pairs were never seen`);
    const fromStart = [];
    for (const { timeline } of timelines) {
      for (const write of paced.writes) fromStart.push(firstSeen(timeline, write.rev) - write.startAt);
    }
    log(
      `propagation: ${latencies.length} samples, p50/p90/p99/max ` +
        `${[50, 90, 99, 100].map((p) => round(percentile(latencies, p), 2)).join("/")} ms after update() resolved ` +
        `(${early} seen before it resolved); from update() call: p50 ${round(percentile(fromStart, 50), 2)} ms, ` +
        `commit itself p50 ${round(median(paced.writes.map((w) => w.committedAt - w.startAt)), 2)} ms`,
    );
    report("store.propagation.p50_ms", round(percentile(latencies, 50), 2));
    report("store.propagation.p99_ms", round(percentile(latencies, 99), 2));

    log(`burst: ${BURSTS} bursts of ${BURST_WRITES} updates 0-${BURST_GAP_MS} ms apart, ${BURST_QUIET_MS} ms quiet`);
    const [bursts] = await askAll(
      [pacer],
      {
        type: "bursts",
        bursts: BURSTS,
        perBurst: BURST_WRITES,
        maxGapMs: BURST_GAP_MS,
        quietMs: BURST_QUIET_MS,
      },
      "bursts-done",
      120_000,
    );
    const burstTimelines = await askAll(watchers, { type: "dump", clear: true }, "timeline");
    // A watcher converged if it held every burst's final rev before that burst's quiet period ran out.
    let converged = 0;
    const lags = [];
    for (const { timeline } of burstTimelines) {
      let ok = true;
      let worst = 0;
      for (const burst of bursts.bursts) {
        const seenAt = firstSeen(timeline, burst.finalRev);
        const lag = seenAt === undefined ? Infinity : seenAt - burst.endAt;
        worst = Math.max(worst, lag);
        if (!(lag <= BURST_QUIET_MS)) ok = false;
      }
      lags.push(worst);
      if (ok) converged++;
    }
    log(
      `burst: ${bursts.bursts.map((b) => b.revs).join(",")} commits per burst; worst lag to each burst's final rev ` +
        `per watcher: ${lags.map((lag) => `${round(lag, 1)} ms`).join(", ")}`,
    );
    report("store.burst.converged", round(converged / watchers.length, 3));
    for (const child of all) child.send({ type: "exit" });
    await Promise.all(all.map((child) => child.exited));
  } finally {
    await stopChildren(all);
  }
}

export async function run(report) {
  // Next to the repository, not in os.tmpdir(): /tmp is often tmpfs, where fsync is free and the figures lie.
  const parent = join(benchDir, "..", ".tmp");
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, "bench-store-"));
  log(`working in ${root}`);
  // BENCH_STORE_PARTS=single,throughput,propagation runs a subset while investigating one figure.
  const parts = (process.env.BENCH_STORE_PARTS ?? "single,throughput,propagation").split(",");
  try {
    if (parts.includes("single")) await measureSingle(root, report);
    if (parts.includes("throughput")) await measureThroughput(root, report);
    if (parts.includes("propagation")) await measurePropagation(root, report);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
