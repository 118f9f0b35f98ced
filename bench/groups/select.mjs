// The select group (issue 3): in-memory selection against reloading the pool file per request, and the cost of a
// lease, alone and with 4 processes sharing capped credentials.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  checkAvailability,
  chooseCredential,
  openPool,
  orderCredentials,
  parseDocument,
  poolDocumentSchema,
} from "@credpool/pool-core";
import { forkChild, startTogether, stopChildren } from "../lib/children.mjs";
import { median, percentile, round } from "../lib/stats.mjs";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const childrenDir = join(benchDir, "children");

const CREDENTIALS = 50;
const ROUNDS = 7;
const HOT_CALLS = 20_000;
const REPARSE_CALLS = 200;
const SINGLE_WARMUP = 30;
const SINGLE_SAMPLES = 300;
const CROSS_PROCESSES = 4;
const CROSS_SECONDS = 3;
const CROSS_ROUNDS = 3;

function log(line) {
  process.stderr.write(`[select] ${line}\n`);
}

const fake = (n, tag) => `fake-${tag}-`.padEnd(n, "x");

/**
 * A realistic 50-credential provider for least_used (the strategy that reads every credential): a mix of API keys
 * and OAuth accounts, some benched, one dead, a few per-model cooldowns, and usage spread over them.
 */
async function seedSelectPool(path) {
  const pool = await openPool({ file: { path } });
  try {
    await pool.setStrategy("bench", "least_used");
    for (let i = 0; i < CREDENTIALS; i++) {
      const oauth = i % 3 === 0;
      await pool.add({
        provider: "bench",
        label: `bench-${i}`,
        secrets: oauth
          ? { accessToken: fake(108, `at${i}`), refreshToken: fake(108, `rt${i}`), expiresAt: 4_000_000_000_000 }
          : { apiKey: fake(73, `key${i}`) },
      });
    }
    const far = Date.now() + 24 * 3_600_000;
    await pool.update((doc) => {
      doc.providers.bench.credentials.forEach((credential, i) => {
        credential.usage.requests = 1000 + ((i * 7919) % 500);
        if (i % 10 === 4)
          credential.status = { state: "exhausted", since: Date.now(), until: far, reason: "rate_limit" };
        if (i === 17) credential.status = { state: "dead", since: Date.now(), reason: "invalid_api_key" };
        if (i % 10 === 7) {
          credential.modelCooldowns = [
            { state: "exhausted", until: far, reason: "rate_limit", model: "claude-opus-4" },
          ];
        }
      });
    });
  } finally {
    await pool.close();
  }
}

/** What a pool that reloads per request does: read the file, parse and validate it, then choose. */
function selectByReparse(path, options) {
  const doc = parseDocument(path, readFileSync(path, "utf8"), poolDocumentSchema);
  const pool = doc.providers.bench;
  const now = Date.now();
  const choice = chooseCredential(pool.strategy ?? "fill_first", {
    ordered: orderCredentials(pool.credentials),
    cursor: pool.cursor ?? 0,
    requestsOf: (credential) => credential.usage.requests,
    isAvailable: (credential) => checkAvailability(credential, now, options) === undefined,
  });
  if (!choice) throw new Error("no credential");
  return choice.credential;
}

async function measureSelect(root, report) {
  const path = join(root, "select", "pool.json");
  await seedSelectPool(path);
  const pool = await openPool({ file: { path } });
  const options = { model: "claude-opus-4" };
  try {
    // Both paths must agree, or the comparison means nothing.
    const inMemory = pool.select("bench", options).id;
    const reparsed = selectByReparse(path, options).id;
    if (inMemory !== reparsed) throw new Error(`select() chose ${inMemory} but the reparse path chose ${reparsed}`);

    const hot = [];
    const reparse = [];
    let sink = 0;
    const timeHot = () => {
      const started = performance.now();
      for (let i = 0; i < HOT_CALLS; i++) sink += pool.select("bench", options).priority;
      return (HOT_CALLS / (performance.now() - started)) * 1000;
    };
    const timeReparse = () => {
      const started = performance.now();
      for (let i = 0; i < REPARSE_CALLS; i++) sink += selectByReparse(path, options).priority;
      return (REPARSE_CALLS / (performance.now() - started)) * 1000;
    };
    timeHot();
    timeReparse();
    // Side by side, alternating which goes first, so drift and neighbours' noise land on both equally.
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        hot.push(timeHot());
        reparse.push(timeReparse());
      } else {
        reparse.push(timeReparse());
        hot.push(timeHot());
      }
    }
    const hotOps = median(hot);
    const reparseOps = median(reparse);
    log(
      `select(): ${CREDENTIALS} credentials, least_used with a model: median ${round(hotOps, 0)}/s ` +
        `(rounds ${hot.map((v) => round(v, 0)).join(", ")}); read+parse+validate per call: median ${round(reparseOps, 0)}/s ` +
        `(rounds ${reparse.map((v) => round(v, 0)).join(", ")}); sink ${sink % 7}`,
    );
    report("select.hot.ops_per_s", round(hotOps, 0));
    report("select.vs_reparse.ratio", round(hotOps / reparseOps, 1));
  } finally {
    await pool.close();
  }
}

/** Capped credentials, so every lease and release is a committed record (the path the cap depends on). */
async function seedLeasePool(path, credentials, maxConcurrent) {
  const pool = await openPool({ file: { path } });
  try {
    for (let i = 0; i < credentials; i++) {
      await pool.add({
        provider: "bench",
        label: `capped-${i}`,
        maxConcurrent,
        secrets: { apiKey: fake(73, `cap${i}`) },
      });
    }
  } finally {
    await pool.close();
  }
}

async function measureSingleLease(root, report) {
  const path = join(root, "single", "pool.json");
  await seedLeasePool(path, 4, 4);
  const pool = await openPool({ file: { path } });
  const samples = [];
  try {
    for (let i = 0; i < SINGLE_WARMUP + SINGLE_SAMPLES; i++) {
      const started = performance.now();
      const lease = await pool.lease("bench");
      await lease.release("ok");
      if (i >= SINGLE_WARMUP) samples.push((performance.now() - started) * 1000);
    }
  } finally {
    await pool.close();
  }
  log(
    `single lease+release (2 commits): p10/p50/p90 ${[10, 50, 90].map((p) => round(percentile(samples, p), 0)).join("/")} us`,
  );
  report("lease.single.p50_us", round(median(samples), 0));
}

async function runCrossProcess(root, name) {
  const path = join(root, name, "pool.json");
  // 4 credentials x 2 slots: the cap is enforced on every lease, and 4 single-lane processes never run out.
  await seedLeasePool(path, 4, 2);
  const children = Array.from({ length: CROSS_PROCESSES }, () =>
    forkChild(join(childrenDir, "pool-leaser.mjs"), ["--pool", path, "--seconds", String(CROSS_SECONDS)]),
  );
  try {
    const goAt = await startTogether(children);
    const dones = await Promise.all(children.map((child) => child.waitFor((m) => m.type === "done", 120_000)));
    const elapsedMs = Math.max(...dones.map((d) => d.doneAt)) - goAt;
    const cycles = dones.reduce((sum, d) => sum + d.cycles, 0);
    const refused = dones.reduce((sum, d) => sum + d.refused, 0);
    const writes = dones.reduce((sum, d) => sum + d.writes, 0);
    const lockWaitMs = median(dones.flatMap((d) => d.lockWaits));
    const commitMs = median(dones.flatMap((d) => d.commits));
    await Promise.all(children.map((child) => child.exited));
    return { cycles, refused, writes, lockWaitMs, commitMs, elapsedMs, perSecond: (cycles / elapsedMs) * 1000 };
  } finally {
    await stopChildren(children);
  }
}

async function measureCrossProcess(root, report) {
  const rounds = [];
  for (let r = 0; r < CROSS_ROUNDS; r++) {
    const result = await runCrossProcess(root, `cross-${r}`);
    log(
      `cross-process round ${r + 1}/${CROSS_ROUNDS}: ${result.cycles} lease+release in ${round(result.elapsedMs, 0)} ms ` +
        `= ${round(result.perSecond, 0)}/s, ${result.writes} writes (median lock wait ${round(result.lockWaitMs, 1)} ms, ` +
        `commit ${round(result.commitMs, 1)} ms), ${result.refused} refused`,
    );
    rounds.push(result.perSecond);
  }
  report("lease.cross_process.per_s", round(median(rounds), 0));
}

export async function run(report) {
  // Next to the repository, not in os.tmpdir(): /tmp is often tmpfs, where fsync is free and the figures lie.
  const parent = join(benchDir, "..", ".tmp");
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, "bench-select-"));
  log(`working in ${root}`);
  try {
    await measureSelect(root, report);
    await measureSingleLease(root, report);
    await measureCrossProcess(root, report);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
