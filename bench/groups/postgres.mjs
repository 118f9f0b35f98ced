// The postgres group: the PostgreSQL backend's commit latency, multi-process throughput against the naive
// one-transaction-per-update protocol, lost updates, NOTIFY propagation to watcher processes, and single-flight
// refresh across 16 processes on two "hosts". Targets come from issue 14. The server is CREDPOOL_TEST_PG_URL or
// the local one; each run uses fresh schemas and drops them.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { startFakeTokenServer } from "../../packages/pool-testkit/src/fake-token-server.mjs";
import { forkChild, startTogether, stopChildren } from "../lib/children.mjs";
import { median, percentile, round } from "../lib/stats.mjs";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const childrenDir = join(benchDir, "children");
const URL_ = process.env.CREDPOOL_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const SINGLE_WARMUP = 30;
const SINGLE_SAMPLES = 300;
const PROCESSES = 8;
const INFLIGHT = 32;
const UPDATES = 4000;
const ROUNDS = 3;
const WATCHERS = 4;
const PROPAGATION_SAMPLES = 200;
const LEASERS = 16;

function log(line) {
  process.stderr.write(`[postgres] ${line}\n`);
}

const schemas = [];
function newSchema(name) {
  const schema = `bench_${name}_${randomBytes(4).toString("hex")}`;
  schemas.push(schema);
  return schema;
}

async function dropSchemas() {
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function seeded(name) {
  const schema = newSchema(name);
  const backend = createPostgresBackend({ url: URL_, schema });
  await backend.update((doc) => {
    doc.counter = 0;
  });
  return { schema, backend };
}

async function measureSingle(report) {
  const { backend } = await seeded("single");
  const samples = [];
  try {
    for (let i = 0; i < SINGLE_WARMUP + SINGLE_SAMPLES; i++) {
      const started = performance.now();
      await backend.update((doc) => {
        doc.counter += 1;
      });
      if (i >= SINGLE_WARMUP) samples.push(performance.now() - started);
    }
  } finally {
    await backend.close();
  }
  log(`single: update() p10/p50/p90 ${[10, 50, 90].map((p) => round(percentile(samples, p) * 1000, 0)).join("/")} us`);
  report("store.pg.single.commit_us", round(median(samples) * 1000, 0));
}

async function runThroughput(name, mode, updates) {
  const { schema, backend } = await seeded(name);
  const perProcess = Math.ceil(updates / PROCESSES);
  const children = Array.from({ length: PROCESSES }, () =>
    forkChild(join(childrenDir, "pg-writer.mjs"), [
      "--url",
      URL_,
      "--schema",
      schema,
      "--mode",
      mode,
      "--updates",
      String(perProcess),
      "--inflight",
      String(INFLIGHT),
    ]),
  );
  try {
    const goAt = await startTogether(children);
    const dones = await Promise.all(children.map((child) => child.waitFor((m) => m.type === "done", 600_000)));
    const elapsedMs = Math.max(...dones.map((d) => d.doneAt)) - goAt;
    const total = perProcess * PROCESSES;
    const errors = {};
    for (const done of dones) {
      for (const [code, count] of Object.entries(done.errors)) errors[code] = (errors[code] ?? 0) + count;
    }
    const { doc, rev } = await backend.read();
    await Promise.all(children.map((child) => child.exited));
    return { total, rev, errors, counter: doc.counter, elapsedMs, perSecond: (total / elapsedMs) * 1000 };
  } finally {
    await backend.close();
    await stopChildren(children);
  }
}

function describeRound(label, r) {
  const errors = Object.keys(r.errors).length > 0 ? `, errors ${JSON.stringify(r.errors)}` : "";
  return (
    `${label}: ${r.total} updates in ${round(r.elapsedMs, 0)} ms = ${round(r.perSecond, 0)}/s, ` +
    `${r.rev - 1} commits (${round(r.total / (r.rev - 1), 1)} updates/commit), counter ${r.counter}${errors}`
  );
}

async function measureThroughput(report) {
  const contended = [];
  const baseline = [];
  for (let i = 0; i < ROUNDS; i++) {
    const a = await runThroughput(`contended${i}`, "group", UPDATES);
    log(describeRound(`contended round ${i + 1}/${ROUNDS}`, a));
    contended.push(a);
    const b = await runThroughput(`baseline${i}`, "naive", UPDATES / 2);
    log(describeRound(`baseline round ${i + 1}/${ROUNDS}`, b));
    baseline.push(b);
  }
  const contendedRate = median(contended.map((r) => r.perSecond));
  const baselineRate = median(baseline.map((r) => r.perSecond));
  const lost = contended.reduce((sum, r) => sum + (r.total - r.counter), 0);
  const baselineLost = baseline.reduce((sum, r) => sum + (r.total - r.counter), 0);
  if (baselineLost !== 0) log(`baseline lost ${baselineLost} updates (it should not: it locks the row too)`);
  report("store.pg.contended.updates_per_s", round(contendedRate, 0));
  report("store.pg.baseline.updates_per_s", round(baselineRate, 0));
  report("store.pg.contended.vs_baseline", round(contendedRate / baselineRate, 2));
  report("store.pg.lost_updates", lost);
}

async function askAll(children, message, replyType, timeoutMs = 30_000) {
  const id = Math.random();
  for (const child of children) child.send({ ...message, id });
  return Promise.all(children.map((child) => child.waitFor((m) => m.type === replyType && m.id === id, timeoutMs)));
}

async function measurePropagation(report) {
  const { schema, backend } = await seeded("propagation");
  const watchers = Array.from({ length: WATCHERS }, () =>
    forkChild(join(childrenDir, "pg-watcher.mjs"), ["--url", URL_, "--schema", schema]),
  );
  try {
    await Promise.all(watchers.map((child) => child.waitFor((m) => m.type === "ready")));
    // Prime until every watcher's LISTEN connection is up.
    for (let attempt = 0; ; attempt++) {
      const doc = await backend.update((d) => void (d.counter += 1));
      const reached = await askAll(watchers, { type: "await-rev", rev: doc.rev, timeoutMs: 200 }, "reached");
      if (reached.every((r) => !r.timedOut)) break;
      if (attempt === 50) throw new Error("watchers never saw a commit within 200 ms; is NOTIFY delivered?");
    }
    await askAll(watchers, { type: "dump", clear: true }, "timeline");
    const writes = [];
    for (let i = 0; i < PROPAGATION_SAMPLES; i++) {
      const doc = await backend.update((d) => void (d.counter += 1));
      writes.push({ rev: doc.rev, committedAt: performance.timeOrigin + performance.now() });
      await sleep(20 + Math.random() * 30);
    }
    await askAll(watchers, { type: "await-rev", rev: writes.at(-1).rev, timeoutMs: 5000 }, "reached");
    const timelines = await askAll(watchers, { type: "dump", clear: true }, "timeline");
    const latencies = [];
    for (const { timeline } of timelines) {
      for (const write of writes) {
        const seen = timeline.find(([rev]) => rev >= write.rev);
        if (seen === undefined) throw new Error(`a watcher never saw rev ${write.rev}`);
        // A watcher can hold the rev before update() resolved here (NOTIFY fires at COMMIT); that is no latency.
        latencies.push(Math.max(0, seen[1] - write.committedAt));
      }
    }
    log(
      `propagation: ${latencies.length} samples, p50/p90/p99/max ` +
        `${[50, 90, 99, 100].map((p) => round(percentile(latencies, p), 2)).join("/")} ms`,
    );
    report("store.pg.propagation.p99_ms", round(percentile(latencies, 99), 2));
    for (const child of watchers) child.send({ type: "exit" });
    await Promise.all(watchers.map((child) => child.exited));
  } finally {
    await backend.close();
    await stopChildren(watchers);
  }
}

async function measureSingleFlight(report) {
  const schema = newSchema("refresh");
  const server = await startFakeTokenServer({ latencyMs: 100 });
  const parent = join(benchDir, "..", ".tmp");
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, "bench-pg-"));
  const backend = createPostgresBackend({ url: URL_, schema });
  const children = [];
  try {
    const tokens = server.issue();
    await backend.update((doc) => {
      doc.providers.anthropic = {
        credentials: [
          {
            id: "cred1",
            label: "work",
            provider: "anthropic",
            kind: "oauth",
            priority: 0,
            source: "manual",
            tokenGeneration: 0,
            status: { state: "ok" },
            usage: { requests: 0, failures: 0 },
            secrets: {
              accessToken: tokens.accessToken,
              refreshToken: tokens.refreshToken,
              expiresAt: Date.now() - 60_000,
            },
          },
        ],
      };
    });
    // Two "hosts": each half has its own CREDPOOL_HOME and HOME; only the database is shared.
    for (let i = 0; i < LEASERS; i++) {
      const home = join(root, i % 2 === 0 ? "host-a" : "host-b");
      children.push(
        forkChild(join(childrenDir, "pg-refresh-leaser.mjs"), ["--url", URL_, "--schema", schema], {
          env: { CREDPOOL_HOME: home, HOME: home, CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl },
        }),
      );
    }
    await startTogether(children);
    const leased = await Promise.all(children.map((child) => child.waitFor((m) => m.type === "leased", 60_000)));
    const distinct = new Set(leased.map((m) => m.token)).size;
    log(`single-flight: ${LEASERS} processes on 2 homes, ${server.calls.length} token call(s), ${distinct} token(s)`);
    report("refresh.pg.singleflight.token_calls", server.calls.length);
    await Promise.all(children.map((child) => child.exited));
  } finally {
    await stopChildren(children);
    await backend.close();
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
}

/** The issue names these metrics store.pg.* and refresh.pg.*, beside the file store's. */
export const metricPrefixes = ["store.pg.", "refresh.pg."];

export async function run(report) {
  // BENCH_PG_PARTS=single,throughput,propagation,refresh runs a subset while investigating one figure.
  const parts = (process.env.BENCH_PG_PARTS ?? "single,throughput,propagation,refresh").split(",");
  try {
    if (parts.includes("single")) await measureSingle(report);
    if (parts.includes("throughput")) await measureThroughput(report);
    if (parts.includes("propagation")) await measurePropagation(report);
    if (parts.includes("refresh")) await measureSingleFlight(report);
  } finally {
    await dropSchemas();
  }
}
