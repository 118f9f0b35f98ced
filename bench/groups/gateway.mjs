// The gateway group (issue 7): lease + release throughput of a real gateway process against a plain node:http
// server answering same-sized JSON, capped-credential throughput, lease latency, and lease latency while an admin
// TOTP check waits on a slow secret command. 32 keep-alive clients on loopback, from a separate load process.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AUTH_STATE_FILE_NAME,
  authStateDocumentSpec,
  createDocumentFileBackend,
  fingerprintSecret,
  generateTotpCode,
  openPool,
} from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { forkChild, stopChildren } from "../lib/children.mjs";
import { percentile, round, sharedNow } from "../lib/stats.mjs";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const childrenDir = join(benchDir, "children");
// Overridable for before/after comparisons of two gateway builds.
const gatewayMain =
  process.env.CREDPOOL_BENCH_GATEWAY_MAIN ?? join(benchDir, "..", "packages", "pool-gateway", "dist", "main.js");

const CLIENTS = 32;
const WARMUP_MS = 1000;
const MEASURE_MS = 3000;
/** Gateway and bare phases alternate, so drift in the machine's load hits both alike; medians are reported. */
const ROUNDS = 5;
/** The slow-TOTP phase paces its clients, so lease latency shows service time plus any stall, not queueing. */
const PACED_THINK_MS = 20;
const SECRET_COMMAND_MS = 3000;
const TOTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const ADMINS = 1;

function log(line) {
  process.stderr.write(`[gateway] ${line}\n`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A realistic pool: uncapped API keys for the fast path, capped ones (room for all 32 clients) for the slow path. */
async function seedPool(poolPath) {
  const pool = await openPool({ file: { path: poolPath } });
  const fake = (name, i) => `sk-bench-${name}-${i}-`.padEnd(60, "x");
  for (let i = 0; i < 4; i++) {
    await pool.add({ provider: "bench", label: `bench-${i}`, secrets: { apiKey: fake("open", i) } });
    await pool.add({
      provider: "capped",
      label: `capped-${i}`,
      maxConcurrent: 16,
      secrets: { apiKey: fake("capped", i) },
    });
  }
  await pool.setStrategy("bench", "least_used");
  await pool.setStrategy("capped", "least_used");
  await pool.close();
}

/**
 * TOTP confirmed for a secret command that takes 3 s (`sh -c "sleep 3; cat FILE"`), as a `sudo -n cat` behind a
 * slow PAM stack would. Written the way `credpool totp setup --confirm` leaves things, without spending a step.
 */
async function seedSlowTotp(home) {
  const secretFile = join(home, "totp-secret-source");
  await writeFile(secretFile, `${TOTP_SECRET}\n`, { mode: 0o600 });
  const config = {
    totp: {
      secretCommand: ["sh", "-c", `sleep ${SECRET_COMMAND_MS / 1000}; cat ${secretFile}`],
      secretCommandTimeoutMs: SECRET_COMMAND_MS + 5000,
    },
  };
  await writeFile(join(home, "config.json"), JSON.stringify(config), { mode: 0o600 });
  const backend = createDocumentFileBackend(authStateDocumentSpec, { path: join(home, AUTH_STATE_FILE_NAME) });
  await backend.update((draft) => {
    draft.totp = {
      configuredAt: Date.now(),
      source: "command",
      algorithm: "SHA1",
      label: "bench",
      secretFingerprint: fingerprintSecret(TOTP_SECRET),
    };
  });
  await backend.close();
}

/** User + system CPU of a process so far, in microseconds (Linux /proc; undefined elsewhere). */
async function cpuMicros(pid) {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** Starts `node packages/pool-gateway/dist/main.js` and resolves with its URL (printed on stderr). */
function startGateway(poolPath, extraArgs = [], env = {}) {
  const child = spawn(process.execPath, [gatewayMain, "--pool", poolPath, "--port", "0", ...extraArgs], {
    env: { ...process.env, CREDPOOL_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = new Promise((resolve, reject) => {
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      const match = /credpool gateway listening on (http:\/\/[\d.]+:\d+)/.exec(stderr);
      if (match) resolve(match[1]);
    });
    void exited.then(({ code, signal }) => reject(new Error(`gateway exited (${code ?? signal}): ${stderr}`)));
  });
  return {
    url,
    pid: child.pid,
    exited,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const result = await exited;
      if (result.code !== 0)
        throw new Error(`gateway did not shut down cleanly (${result.code ?? result.signal}): ${stderr}`);
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

let phaseId = 0;
/**
 * One load phase against `url`. `serverPid` adds the server's CPU per request (measured over the whole phase, warmup
 * included): on a shared machine it moves far less than throughput does, so it is the figure to compare before/after.
 */
async function runPhase(load, { serverPid, ...options }) {
  const id = ++phaseId;
  const cpuBefore = serverPid === undefined ? undefined : await cpuMicros(serverPid);
  load.send({ type: "phase", id, concurrency: CLIENTS, warmupMs: WARMUP_MS, durationMs: MEASURE_MS, ...options });
  const result = await load.waitFor((message) => message.type === "phase-done" && message.id === id, 120_000);
  const cpuAfter = serverPid === undefined ? undefined : await cpuMicros(serverPid);
  if (result.errors > 0)
    throw new Error(`${options.label}: ${result.errors} failed requests ${JSON.stringify(result.statuses)}`);
  if (result.ops === 0) throw new Error(`${options.label}: no operation completed`);
  const rps = result.ops / result.seconds;
  // Requests over the whole phase (warmup too), estimated from the measured rate.
  const requests = 2 * rps * ((WARMUP_MS + (options.durationMs ?? MEASURE_MS)) / 1000);
  const cpuPerRequest =
    cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / requests;
  log(
    `${options.label}: ${round(rps, 0)} lease+release/s, lease p99 ${round(percentile(result.latencies, 99), 2)} ms` +
      (cpuPerRequest === undefined ? "" : `, server CPU ${round(cpuPerRequest, 1)} us/request`),
  );
  return { rps, latencies: result.latencies, sentAt: result.sentAt, cpuPerRequest };
}

/**
 * Lease latency while an admin waits on the slow secret command: a session is opened with a valid code during a
 * paced lease phase (a code is single-use, so one verification per step); only leases sent while it was still
 * waiting count.
 */
async function measureDuringSlowTotp(load, url, tokens, adminTokens) {
  const durationMs = SECRET_COMMAND_MS + 2000;
  const id = ++phaseId;
  load.send({
    type: "phase",
    id,
    concurrency: CLIENTS,
    warmupMs: WARMUP_MS,
    durationMs,
    thinkMs: PACED_THINK_MS,
    url,
    tokens,
    provider: "bench",
  });
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS + 500));
  const code = generateTotpCode({ secret: TOTP_SECRET, algorithm: "SHA1", timestamp: Date.now() });
  const waitFrom = sharedNow();
  const sessions = await Promise.all(
    adminTokens.map((token) =>
      fetch(`${url}/v1/admin/session`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ code }),
      }).then(async (response) => ({ status: response.status, body: await response.text(), at: sharedNow() })),
    ),
  );
  const waitUntil = Math.min(...sessions.map((session) => session.at));
  const result = await load.waitFor((message) => message.type === "phase-done" && message.id === id, 120_000);
  for (const session of sessions) {
    if (session.status !== 200) throw new Error(`admin session failed: HTTP ${session.status} ${session.body}`);
  }
  if (waitUntil - waitFrom < SECRET_COMMAND_MS * 0.9) {
    throw new Error(`the TOTP check took ${round(waitUntil - waitFrom, 0)} ms: the secret command did not run`);
  }
  if (result.errors > 0)
    throw new Error(`slow TOTP phase: ${result.errors} failed requests ${JSON.stringify(result.statuses)}`);
  const during = result.latencies.filter(
    (_, index) => result.sentAt[index] >= waitFrom && result.sentAt[index] <= waitUntil,
  );
  if (during.length < 100) throw new Error(`only ${during.length} leases while the TOTP check waited`);
  const p99 = percentile(during, 99);
  log(
    `slow TOTP: ${during.length} leases during a ${round(waitUntil - waitFrom, 0)} ms wait, p99 ${round(p99, 2)} ms, max ${round(Math.max(...during), 2)} ms`,
  );
  return p99;
}

export async function run(report) {
  const root = await mkdtemp(join(tmpdir(), "credpool-bench-gateway-"));
  const poolPath = join(root, "pool.json");
  const children = [];
  let gateway;
  try {
    await seedPool(poolPath);
    await seedSlowTotp(root);
    const tokenStore = createTokenStore({ dir: root });
    const tokens = [];
    for (let i = 0; i < CLIENTS; i++) tokens.push((await tokenStore.create(`load-${i}`, "lease")).token);
    const adminTokens = [];
    for (let i = 0; i < ADMINS; i++) adminTokens.push((await tokenStore.create(`admin-${i}`, "admin")).token);
    await tokenStore.close();

    gateway = startGateway(poolPath);
    const url = await gateway.url;
    // One real lease response sizes the bare server's answer.
    const sample = await fetch(`${url}/v1/leases`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" },
      body: '{"provider":"bench"}',
    });
    const leaseBody = await sample.text();
    if (sample.status !== 201) throw new Error(`sample lease failed: ${sample.status} ${leaseBody}`);
    const { leaseId } = JSON.parse(leaseBody);
    await fetch(`${url}/v1/leases/${leaseId}/release`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens[0]}` },
      body: '{"outcome":"ok"}',
    }).then((response) => response.arrayBuffer());

    const bare = forkChild(join(childrenDir, "bare-http.mjs"), ["--leaseBody", leaseBody]);
    const load = forkChild(join(childrenDir, "gateway-load.mjs"));
    children.push(bare, load);
    const bareUrl = (await bare.waitFor((message) => message.type === "listening")).url;
    await load.waitFor((message) => message.type === "ready");
    log(
      `lease response ${Buffer.byteLength(leaseBody)} bytes; ${CLIENTS} clients, ${ROUNDS} rounds of ${MEASURE_MS} ms`,
    );
    // Unmeasured: JIT warm-up for both servers and the load generator.
    await runPhase(load, { label: "warm-up bare", url: bareUrl, tokens, provider: "bench" });
    await runPhase(load, { label: "warm-up gateway", url, tokens, provider: "bench" });

    const gatewayRuns = [];
    const bareRuns = [];
    for (let roundIndex = 0; roundIndex < ROUNDS; roundIndex++) {
      bareRuns.push(
        await runPhase(load, {
          label: `bare round ${roundIndex + 1}`,
          url: bareUrl,
          tokens,
          provider: "bench",
          serverPid: bare.pid,
        }),
      );
      gatewayRuns.push(
        await runPhase(load, {
          label: `gateway round ${roundIndex + 1}`,
          url,
          tokens,
          provider: "bench",
          serverPid: gateway.pid,
        }),
      );
    }
    const gatewayMedian = median(gatewayRuns.map((run) => run.rps));
    const bareMedian = median(bareRuns.map((run) => run.rps));
    report("gateway.lease_release.rps", round(gatewayMedian, 0));
    report("gateway.bare_http.rps", round(bareMedian, 0));
    report("gateway.vs_bare_http", round(gatewayMedian / bareMedian, 3));
    report(
      "gateway.lease.p99_ms",
      round(
        percentile(
          gatewayRuns.flatMap((run) => run.latencies),
          99,
        ),
        2,
      ),
    );
    const gatewayCpu = gatewayRuns.map((run) => run.cpuPerRequest);
    const bareCpu = bareRuns.map((run) => run.cpuPerRequest);
    if (![...gatewayCpu, ...bareCpu].includes(undefined)) {
      report("gateway.server_cpu_us_per_request", round(median(gatewayCpu), 1));
      report("gateway.bare_http.server_cpu_us_per_request", round(median(bareCpu), 1));
    }

    const capped = await runPhase(load, { label: "gateway capped", url, tokens, provider: "capped" });
    report("gateway.capped.lease_release.rps", round(capped.rps, 0));

    // The same paced load without a TOTP check, for reference: what the slow-TOTP figure would be without one.
    const paced = await runPhase(load, {
      label: "gateway paced",
      url,
      tokens,
      provider: "bench",
      thinkMs: PACED_THINK_MS,
    });
    report("gateway.paced.lease.p99_ms", round(percentile(paced.latencies, 99), 2));
    report("gateway.p99_ms_during_slow_totp", round(await measureDuringSlowTotp(load, url, tokens, adminTokens), 2));

    await gateway.stop();
    gateway = undefined;
  } finally {
    gateway?.kill();
    await stopChildren(children);
    await rm(root, { recursive: true, force: true });
  }
}
