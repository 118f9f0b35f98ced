// The proxy group (issue 13): the credpool gateway's provider routes against a minimal pass-through proxy on the
// same HTTP client (bench/children/floor-proxy.mjs), both in front of one lean upstream (bench/children/
// proxy-upstream.mjs), each in its own process; the load generator is this process. The gateway logs at its
// default level (info: one line per proxied request) to a file, as it would in production.
// On a 2-core shared machine absolute figures drift, so floor and gateway phases alternate and medians are reported.
import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { forkChild, stopChildren } from "../lib/children.mjs";
import { median, percentile, round, sharedNow } from "../lib/stats.mjs";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const childrenDir = join(benchDir, "children");
const gatewayDir = join(benchDir, "..", "packages", "pool-gateway");
// Overridable for before/after comparisons of two gateway builds.
const gatewayMain = process.env.CREDPOOL_BENCH_GATEWAY_MAIN ?? join(gatewayDir, "dist", "main.js");
// The load generator uses the gateway's own undici, so both sides of the comparison pay the same client.
const { Pool } = await import(pathToFileURL(createRequire(join(gatewayDir, "package.json")).resolve("undici")).href);

const CLIENTS = 32;
/** Each phase opens fresh connections; the servers are already warm from the unmeasured first phases. */
const WARMUP_MS = 500;
/** Many short alternating rounds rather than a few long ones: other load on the machine comes in bursts of seconds. */
const MEASURE_MS = 1500;
const LATENCY_MS = 1000;
const ROUNDS = 10;
const SSE_TRIALS = 100;
const LAG_STREAMS = 4;
const LAG_EVENTS = 100;
const LAG_INTERVAL_MS = 5;
const LAG_ROUNDS = 5;
const STREAM_BYTES = 200 * 1024 * 1024;
/** The slow reader takes this many bytes a second: well under what the gateway can relay. */
const READER_BYTES_PER_S = 40 * 1024 * 1024;
const FAILOVER_REQUESTS = 1000;
const FAILOVER_CLIENTS = 8;
/** Paced so the 1000 requests span several retry-after windows: each throttled key recovers and throttles again. */
const FAILOVER_THINK_MS = 20;

const MESSAGE = { model: "claude-bench-1", max_tokens: 64, messages: [{ role: "user", content: "Say hello." }] };

function log(line) {
  process.stderr.write(`[proxy] ${line}\n`);
}

async function seed(root, upstreamUrl) {
  const pool = await openPool({ file: { path: join(root, "pool.json") } });
  for (let i = 1; i <= 3; i++) {
    await pool.add({
      provider: "anthropic",
      label: `ant-${i}`,
      secrets: { apiKey: `sk-ant-bench-${i}`.padEnd(60, "x") },
    });
  }
  // Two of three keys throttle on every request (429, retry-after 1 s): the failover phase.
  for (const [label, apiKey] of [
    ["throttled-1", "sk-throttle-1"],
    ["throttled-2", "sk-throttle-2"],
    ["serving-3", "sk-openai-bench-3"],
  ]) {
    await pool.add({ provider: "openai", label, secrets: { apiKey: apiKey.padEnd(60, "x") } });
  }
  await pool.close();
  const proxy = { upstreams: { anthropic: upstreamUrl, openai: `${upstreamUrl}/v1` } };
  await writeFile(join(root, "config.json"), JSON.stringify({ proxy }));
  const tokens = createTokenStore({ dir: root });
  const { token } = await tokens.create("bench", "proxy");
  await tokens.close();
  return token;
}

/** `node packages/pool-gateway/dist/main.js` at its default log level, logging to a file; resolves once listening. */
function startGateway(root, logPath) {
  const env = { ...process.env };
  delete env.CREDPOOL_LOG_LEVEL;
  const logFd = openSync(logPath, "a");
  // e.g. CREDPOOL_BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the gateway under load.
  const nodeArgs = (process.env.CREDPOOL_BENCH_GATEWAY_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
  const child = spawn(process.execPath, [...nodeArgs, gatewayMain, "--pool", join(root, "pool.json"), "--port", "0"], {
    env,
    stdio: ["ignore", logFd, "pipe"],
  });
  closeSync(logFd);
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

/** A target to send requests to: an origin, a path prefix and the headers it needs. */
function target(url, prefix, headers = {}) {
  return { origin: url, prefix, headers: { "content-type": "application/json", ...headers } };
}

/**
 * `concurrency` keep-alive connections each sending POSTs back to back; requests that start and finish inside the
 * measuring window count. Anything but a 200 is an error.
 */
async function load(
  to,
  { concurrency, warmupMs, durationMs, path = "/v1/messages", body = MESSAGE, label, serverPid, upstreamPid },
) {
  const cpuBefore = serverPid === undefined ? undefined : await cpuMicros(serverPid);
  const upstreamBefore = upstreamPid === undefined ? undefined : await cpuMicros(upstreamPid);
  const selfBefore = process.cpuUsage();
  let completed = 0;
  const pool = new Pool(to.origin, { connections: concurrency, pipelining: 1 });
  const payload = JSON.stringify(body);
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const measureUntil = measureFrom + durationMs;
  const latencies = [];
  const statuses = {};
  let errors = 0;
  async function worker() {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= measureUntil) return;
      const { statusCode, body: answer } = await pool.request({
        path: `${to.prefix}${path}`,
        method: "POST",
        headers: to.headers,
        body: payload,
      });
      await answer.dump({ limit: Infinity });
      const t1 = performance.now();
      completed++;
      if (statusCode !== 200) {
        errors++;
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      } else if (t0 >= measureFrom && t1 <= measureUntil) {
        latencies.push(t1 - t0);
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  if (errors > 0) throw new Error(`${label}: ${errors} failed requests ${JSON.stringify(statuses)}`);
  if (latencies.length === 0) throw new Error(`${label}: no request completed`);
  const cpuAfter = serverPid === undefined ? undefined : await cpuMicros(serverPid);
  // Over the whole phase, warm-up included: on a shared machine it moves far less than throughput does.
  const cpuPerRequest = cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / completed;
  const self = process.cpuUsage(selfBefore);
  const upstreamAfter = upstreamPid === undefined ? undefined : await cpuMicros(upstreamPid);
  // What the whole exchange costs the machine: this load generator, the server under test and the upstream.
  const totalCpuPerRequest =
    upstreamAfter === undefined || cpuPerRequest === undefined
      ? undefined
      : cpuPerRequest + (upstreamAfter - upstreamBefore + self.user + self.system) / completed;
  return { rps: latencies.length / (durationMs / 1000), latencies, cpuPerRequest, totalCpuPerRequest };
}

/**
 * One streamed request: when the first complete SSE event arrived (ms after sending), and for every event that
 * carries the upstream's write time, how long it took to arrive.
 */
async function stream(pool, to, body) {
  const t0 = sharedNow();
  const { statusCode, body: answer } = await pool.request({
    path: `${to.prefix}/v1/messages`,
    method: "POST",
    headers: to.headers,
    body: JSON.stringify(body),
  });
  if (statusCode !== 200) throw new Error(`stream answered ${statusCode}: ${await answer.text()}`);
  let firstEventMs;
  const lags = [];
  let pending = "";
  answer.setEncoding("utf8");
  for await (const chunk of answer) {
    const at = sharedNow();
    pending += chunk;
    const events = pending.split("\n\n");
    pending = events.pop();
    if (events.length > 0) firstEventMs ??= at - t0;
    for (const event of events) {
      const stamp = /"bench_ts":([\d.]+)/.exec(event);
      if (stamp) lags.push(at - Number(stamp[1]));
    }
  }
  if (firstEventMs === undefined) throw new Error("the stream carried no event");
  return { firstEventMs, lags };
}

async function firstEventTimes(to, trials) {
  const pool = new Pool(to.origin, { connections: 1 });
  try {
    const times = [];
    for (let i = 0; i < trials; i++) {
      const { firstEventMs } = await stream(pool, to, {
        ...MESSAGE,
        stream: true,
        bench_events: 2,
        bench_interval_ms: 1,
      });
      times.push(firstEventMs);
    }
    return times;
  } finally {
    await pool.close();
  }
}

/** LAG_STREAMS streams at once through `to`: each timed event's delay from the upstream's write to its arrival. */
async function eventLags(to) {
  const pool = new Pool(to.origin, { connections: LAG_STREAMS });
  const body = { ...MESSAGE, stream: true, bench_events: LAG_EVENTS, bench_interval_ms: LAG_INTERVAL_MS };
  try {
    const results = await Promise.all(Array.from({ length: LAG_STREAMS }, () => stream(pool, to, body)));
    const lags = results.flatMap((result) => result.lags);
    if (lags.length !== LAG_STREAMS * LAG_EVENTS) throw new Error(`only ${lags.length} timed events`);
    return lags;
  } finally {
    await pool.close();
  }
}

/** User + system CPU of a process so far, in microseconds (Linux /proc). */
async function cpuMicros(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function rssBytes(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

/** Streams STREAM_BYTES through `to` to a reader that takes READER_BYTES_PER_S; returns the server's RSS growth. */
async function slowReaderRssGrowth(to, pid) {
  const before = await rssBytes(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssBytes(pid));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const pool = new Pool(to.origin, { connections: 1 });
  const started = performance.now();
  let received = 0;
  try {
    const { statusCode, body } = await pool.request({
      path: `${to.prefix}/v1/messages`,
      method: "POST",
      headers: to.headers,
      body: JSON.stringify({ ...MESSAGE, stream: true, bench_bytes: STREAM_BYTES }),
    });
    if (statusCode !== 200) throw new Error(`bulk stream answered ${statusCode}`);
    for await (const chunk of body) {
      received += chunk.length;
      const aheadMs = (received / READER_BYTES_PER_S) * 1000 - (performance.now() - started);
      if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs));
    }
  } finally {
    sampling = false;
    await sampler;
    await pool.close();
  }
  if (received < STREAM_BYTES) throw new Error(`the slow reader got ${received} of ${STREAM_BYTES} bytes`);
  log(
    `slow reader: ${round(received / 2 ** 20, 0)} MB in ${round((performance.now() - started) / 1000, 1)} s, ` +
      `RSS ${round(before / 2 ** 20, 1)} -> peak ${round(peak / 2 ** 20, 1)} MB`,
  );
  return (peak - before) / 2 ** 20;
}

/** FAILOVER_REQUESTS chat completions over 3 keys of which 2 answer 429: how many did the client see fail? */
async function failoverErrors(to, upstream) {
  const pool = new Pool(to.origin, { connections: FAILOVER_CLIENTS });
  const payload = JSON.stringify({ model: "gpt-bench-1", messages: [{ role: "user", content: "Say hello." }] });
  let next = 0;
  let errors = 0;
  const statuses = {};
  async function worker() {
    while (next < FAILOVER_REQUESTS) {
      next++;
      try {
        const { statusCode, body } = await pool.request({
          path: "/openai/v1/chat/completions",
          method: "POST",
          headers: to.headers,
          body: payload,
        });
        await body.dump({ limit: Infinity });
        if (statusCode !== 200) {
          errors++;
          statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
        }
      } catch (error) {
        errors++;
        statuses[error.code ?? "network"] = (statuses[error.code ?? "network"] ?? 0) + 1;
      }
      await new Promise((resolve) => setTimeout(resolve, FAILOVER_THINK_MS));
    }
  }
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: FAILOVER_CLIENTS }, worker));
  } finally {
    await pool.close();
  }
  upstream.send({ type: "count", id: 1 });
  const { throttled } = await upstream.waitFor((message) => message.type === "counted" && message.id === 1);
  log(
    `failover: ${FAILOVER_REQUESTS} requests in ${round((performance.now() - started) / 1000, 1)} s, ` +
      `${throttled} upstream 429s, client errors ${errors} ${JSON.stringify(statuses)}`,
  );
  if (throttled === 0) throw new Error("failover: no key throttled, so the phase measured nothing");
  return errors;
}

export async function run(report) {
  const root = await mkdtemp(join(tmpdir(), "credpool-bench-proxy-"));
  const logDir = await mkdtemp(join(tmpdir(), "credpool-bench-proxy-log-"));
  const children = [];
  let gateway;
  try {
    const upstream = forkChild(join(childrenDir, "proxy-upstream.mjs"));
    children.push(upstream);
    const upstreamUrl = (await upstream.waitFor((message) => message.type === "listening")).url;
    const token = await seed(root, upstreamUrl);
    const floor = forkChild(join(childrenDir, "floor-proxy.mjs"), [
      "--upstream",
      upstreamUrl,
      "--key",
      "sk-ant-bench-floor".padEnd(60, "x"),
    ]);
    children.push(floor);
    const floorUrl = (await floor.waitFor((message) => message.type === "listening")).url;
    // Beside the pool's directory, not in it: the gateway watches that directory for changes to the pool file.
    gateway = startGateway(root, join(logDir, "gateway.log"));
    const gatewayUrl = await gateway.url;

    const anthropic = { "x-api-key": token, "anthropic-version": "2023-06-01" };
    const viaGateway = target(gatewayUrl, "/anthropic", anthropic);
    const viaFloor = target(floorUrl, "/anthropic", { "anthropic-version": "2023-06-01" });
    const direct = target(upstreamUrl, "", { "x-api-key": "sk-ant-bench-direct", "anthropic-version": "2023-06-01" });

    log(`${CLIENTS} clients, ${ROUNDS} rounds of ${MEASURE_MS} ms each side; latency at 1 client, ${LATENCY_MS} ms`);
    const phase = { concurrency: CLIENTS, warmupMs: WARMUP_MS, durationMs: MEASURE_MS };
    // Unmeasured: JIT warm-up for the servers and this process.
    await load(viaFloor, { ...phase, warmupMs: 1000, durationMs: 3000, label: "warm-up floor" });
    await load(viaGateway, { ...phase, warmupMs: 1000, durationMs: 3000, label: "warm-up gateway" });

    const gatewayRps = [];
    const floorRps = [];
    const gatewayP50 = [];
    const floorCpu = [];
    const floorTotalCpu = [];
    const gatewayTotalCpu = [];
    const gatewayCpu = [];
    const floorP50 = [];
    const latencyPhase = { concurrency: 1, warmupMs: 200, durationMs: LATENCY_MS };
    for (let i = 1; i <= ROUNDS; i++) {
      const floorRun = await load(viaFloor, {
        ...phase,
        label: `floor round ${i}`,
        serverPid: floor.pid,
        upstreamPid: upstream.pid,
      });
      const gatewayRun = await load(viaGateway, {
        ...phase,
        label: `gateway round ${i}`,
        serverPid: gateway.pid,
        upstreamPid: upstream.pid,
      });
      const floorLatency = await load(viaFloor, { ...latencyPhase, label: `floor latency ${i}` });
      const gatewayLatency = await load(viaGateway, { ...latencyPhase, label: `gateway latency ${i}` });
      floorTotalCpu.push(floorRun.totalCpuPerRequest);
      gatewayTotalCpu.push(gatewayRun.totalCpuPerRequest);
      floorCpu.push(floorRun.cpuPerRequest);
      gatewayCpu.push(gatewayRun.cpuPerRequest);
      floorRps.push(floorRun.rps);
      gatewayRps.push(gatewayRun.rps);
      floorP50.push(median(floorLatency.latencies));
      gatewayP50.push(median(gatewayLatency.latencies));
      log(
        `round ${i}: floor ${round(floorRun.rps, 0)} rps (${round(floorRun.cpuPerRequest, 0)} us CPU/request), ` +
          `gateway ${round(gatewayRun.rps, 0)} rps (${round(gatewayRun.cpuPerRequest, 0)} us CPU/request), ` +
          `ratio ${round(gatewayRun.rps / floorRun.rps, 2)}; ` +
          `1-client p50 floor ${round(floorP50.at(-1), 3)} ms, gateway ${round(gatewayP50.at(-1), 3)} ms`,
      );
    }
    const jsonRps = median(gatewayRps);
    const floorMedian = median(floorRps);
    report("proxy.json.rps", round(jsonRps, 0));
    report("proxy.floor.rps", round(floorMedian, 0));
    report("proxy.vs_floor", round(jsonRps / floorMedian, 3));
    // Per round, so both latencies of a difference come from the same moment of the machine's load.
    report("proxy.added_p50_ms", round(median(gatewayP50.map((value, i) => value - floorP50[i])), 3));
    report("proxy.server_cpu_us_per_request", round(median(gatewayCpu), 1));
    report("proxy.floor.server_cpu_us_per_request", round(median(floorCpu), 1));
    // With the machine to itself, CPU-bound throughput goes as the inverse of what a request costs all three
    // processes together: the ratio the throughput figures would show without other load on the machine.
    log(
      `CPU per request, load generator + proxy + upstream: floor ${round(median(floorTotalCpu), 0)} us, ` +
        `gateway ${round(median(gatewayTotalCpu), 0)} us; CPU-bound estimate of vs_floor ` +
        `${round(median(floorTotalCpu) / median(gatewayTotalCpu), 3)}`,
    );

    // Time to first event: gateway and direct alternate in blocks so drift hits both.
    const viaGatewayFirst = [];
    const directFirst = [];
    await firstEventTimes(viaGateway, 20);
    await firstEventTimes(direct, 20);
    for (let i = 0; i < 4; i++) {
      directFirst.push(...(await firstEventTimes(direct, SSE_TRIALS / 4)));
      viaGatewayFirst.push(...(await firstEventTimes(viaGateway, SSE_TRIALS / 4)));
    }
    log(
      `first SSE event p50: direct ${round(median(directFirst), 3)} ms, gateway ${round(median(viaGatewayFirst), 3)} ms`,
    );
    report("proxy.sse.first_event_added_ms", round(median(viaGatewayFirst) - median(directFirst), 3));

    // Direct, floor and gateway take turns, so a stall of the shared machine lands on all three alike.
    const directLags = [];
    const floorLags = [];
    const gatewayLags = [];
    for (let i = 0; i < LAG_ROUNDS; i++) {
      directLags.push(...(await eventLags(direct)));
      floorLags.push(...(await eventLags(viaFloor)));
      gatewayLags.push(...(await eventLags(viaGateway)));
    }
    const lagFigures = (lags) => `p50 ${round(percentile(lags, 50), 3)} / p99 ${round(percentile(lags, 99), 3)} ms`;
    log(
      `event lag (${gatewayLags.length} events each, ${LAG_STREAMS} streams at once): direct ${lagFigures(directLags)}, ` +
        `floor ${lagFigures(floorLags)}, gateway ${lagFigures(gatewayLags)}`,
    );
    report("proxy.sse.event_lag_p99_ms", round(percentile(gatewayLags, 99), 3));

    const floorGrowth = await slowReaderRssGrowth(viaFloor, floor.pid);
    const gatewayGrowth = await slowReaderRssGrowth(viaGateway, gateway.pid);
    log(`RSS growth: floor ${round(floorGrowth, 1)} MB, gateway ${round(gatewayGrowth, 1)} MB`);
    report("proxy.stream.rss_growth_mb", round(gatewayGrowth, 1));

    report(
      "proxy.failover.client_errors",
      await failoverErrors(target(gatewayUrl, "", { authorization: `Bearer ${token}` }), upstream),
    );

    await gateway.stop();
    gateway = undefined;
  } finally {
    gateway?.kill();
    await stopChildren(children);
    await rm(root, { recursive: true, force: true });
    await rm(logDir, { recursive: true, force: true });
  }
}
