// Usage accounting across real processes: totals survive a gateway restart (SIGTERM flushes what is pending; after
// SIGKILL what was flushed survives), `credpool usage` reports them, /metrics has the proxy series with their
// labels, and the proxy.request log line carries the request's numbers and no secret.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "../gateway/gateway-process.js";
import { readUsageBuckets, startProxyWorld, sumUsage, waitForUsage, type ProxyWorld } from "./world.js";

const CLI_BIN = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));
const ANTHROPIC_KEY = "sk-ant-api03-FIXTUREproxyUsageANTHROPIC-0123456789abcdef";
const OPENAI_KEY = "sk-proj-FIXTUREproxyUsageOPENAI-0123456789abcdefghij";
// Six words: each answer has six output tokens.
const TEXT = "one two three four five six";
const OUTPUT = 6;
const INPUT = 12;
const CACHE_READ = 4;
const CACHE_WRITE = 2;

function ask(url: string, token: string, model: string, stream = false): Promise<Response> {
  return fetch(`${url}/anthropic/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": token, "content-type": "application/json", "x-request-id": `req-${model}` },
    body: JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: "user", content: "hi" }] }),
  });
}

async function askOk(url: string, token: string, model: string, stream = false): Promise<void> {
  const response = await ask(url, token, model, stream);
  expect(response.status).toBe(200);
  await response.text();
}

function credpool(
  poolPath: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, "--pool", poolPath, ...args],
      { env: { ...process.env, NO_COLOR: "1" } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("usage accounting in real processes", () => {
  let world: ProxyWorld | undefined;
  const extra: GatewayProcess[] = [];
  afterEach(() => {
    for (const gateway of extra.splice(0)) if (isRunning(gateway.child)) gateway.child.kill("SIGKILL");
  });
  afterAll(async () => {
    await world?.stop();
  });

  async function startWorld(): Promise<ProxyWorld> {
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant-main", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai-main", secrets: { apiKey: OPENAI_KEY } },
      ],
      upstreamText: TEXT,
      upstream: { inputTokens: INPUT, cacheReadTokens: CACHE_READ, cacheWriteTokens: CACHE_WRITE },
      config: {
        prices: {
          "claude-priced-*": { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75, typo: 1 },
        },
      },
    });
    return world;
  }

  it("keeps totals across a SIGTERM restart and a SIGKILL after a flush, and the next gateway adds to them", async () => {
    const current = await startWorld();
    const model = "claude-priced-restart";
    // Three requests, then SIGTERM at once: the shutdown flush writes them, not the once-a-second timer.
    await askOk(current.gateway.url, current.token, model);
    await askOk(current.gateway.url, current.token, model, true);
    await askOk(current.gateway.url, current.token, model);
    current.gateway.child.kill("SIGTERM");
    expect((await current.gateway.child.exited).code).toBe(0);
    const perRequest = { input: INPUT, output: OUTPUT, cacheRead: CACHE_READ, cacheWrite: CACHE_WRITE };
    const times = (n: number) => ({
      requests: n,
      input: n * perRequest.input,
      output: n * perRequest.output,
      cacheRead: n * perRequest.cacheRead,
      cacheWrite: n * perRequest.cacheWrite,
    });
    expect(sumUsage(await readUsageBuckets(current.poolPath), { model })).toEqual(times(3));

    // A second gateway adds two; once they are on disk it is killed without a chance to flush anything.
    const second = await startGatewayProcess(current.poolPath, { CREDPOOL_LOG_LEVEL: "info" });
    extra.push(second);
    await askOk(second.url, current.token, model);
    await askOk(second.url, current.token, model, true);
    expect(await waitForUsage(current.poolPath, { model }, 5)).toEqual(times(5));
    second.child.kill("SIGKILL");
    await second.child.exited;

    const third = await startGatewayProcess(current.poolPath, { CREDPOOL_LOG_LEVEL: "info" });
    extra.push(third);
    await askOk(third.url, current.token, model);
    expect(await waitForUsage(current.poolPath, { model }, 6)).toEqual(times(6));
    const buckets = (await readUsageBuckets(current.poolPath)).filter((bucket) => bucket.model === model);
    expect(new Set(buckets.map((bucket) => `${bucket.provider}/${bucket.credentialLabel}/${bucket.client}`))).toEqual(
      new Set(["anthropic/ant-main/agent"]),
    );

    // `credpool usage` reads the same totals, with the cost from config.json's price table.
    const json = await credpool(current.poolPath, ["usage", "--json", "--by", "model"]);
    expect(json.code).toBe(0);
    expect(json.stderr).toContain("prices.claude-priced-*.typo");
    const report = JSON.parse(json.stdout) as { by: string; priced: boolean; rows: Record<string, unknown>[] };
    expect(report.by).toBe("model");
    const row = report.rows.find((candidate) => candidate.key === `anthropic/${model}`);
    const cost = (6 * (INPUT * 3 + OUTPUT * 15 + CACHE_READ * 0.3 + CACHE_WRITE * 3.75)) / 1_000_000;
    const { cost: rowCost, ...counts } = row ?? {};
    expect(counts).toEqual({ key: `anthropic/${model}`, ...times(6), unpricedRequests: 0 });
    expect(rowCost).toBeCloseTo(cost, 10);
    third.child.kill("SIGTERM");
    await third.child.exited;
  });

  it("prints a table by credential, model or client, marks unpriced models, and names a bad argument", async () => {
    const current = world ?? (await startWorld());
    const gateway = await startGatewayProcess(current.poolPath, { CREDPOOL_LOG_LEVEL: "info" });
    extra.push(gateway);
    const second = await current.createToken("reviewer", "proxy");
    await askOk(gateway.url, second, "claude-unpriced");
    const openai = await fetch(`${gateway.url}/openai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${second}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-unpriced", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(openai.status).toBe(200);
    await openai.text();
    await waitForUsage(current.poolPath, { client: "reviewer" }, 2);

    const byCredential = await credpool(current.poolPath, ["usage"]);
    expect(byCredential.code).toBe(0);
    const lines = byCredential.stdout.trimEnd().split("\n");
    expect(lines[0]?.split(/\s{2,}/)).toEqual([
      "credential",
      "requests",
      "input",
      "output",
      "cache read",
      "cache write",
      "cost",
    ]);
    const cells = (key: string) =>
      lines.find((line) => line.startsWith(`${key} `))?.split(/\s{2,}/) ?? `no row ${key} in\n${byCredential.stdout}`;
    // anthropic: six priced requests from the first test and one unpriced ("+": the cost leaves it out).
    const anthropicCost = (6 * (INPUT * 3 + OUTPUT * 15 + CACHE_READ * 0.3 + CACHE_WRITE * 3.75)) / 1_000_000;
    expect(cells("anthropic/ant-main")).toEqual([
      "anthropic/ant-main",
      "7",
      String(7 * INPUT),
      String(7 * OUTPUT),
      String(7 * CACHE_READ),
      String(7 * CACHE_WRITE),
      `$${anthropicCost.toFixed(4)}+`,
    ]);
    // OpenAI's prompt_tokens include the cached ones; input is the uncached part.
    expect(cells("openai/oai-main")).toEqual([
      "openai/oai-main",
      "1",
      String(INPUT),
      String(OUTPUT),
      String(CACHE_READ),
      "0",
      "-",
    ]);
    expect(cells("total")[1]).toBe("8");

    const byClient = await credpool(current.poolPath, ["usage", "--by", "client", "--since", "2h", "--json"]);
    const clients = (JSON.parse(byClient.stdout) as { rows: { key: string; requests: number }[] }).rows;
    expect(clients.map(({ key, requests }) => [key, requests])).toEqual([
      ["agent", 6],
      ["reviewer", 2],
    ]);

    const badBy = await credpool(current.poolPath, ["usage", "--by", "provider"]);
    expect(badBy.code).not.toBe(0);
    expect(badBy.stderr).toContain('--by takes credential, model, client, got "provider"');
    expect(badBy.stderr).not.toMatch(/\n\s+at /);
    const badSince = await credpool(current.poolPath, ["usage", "--since", "yesterday"]);
    expect(badSince.code).not.toBe(0);
    expect(badSince.stderr).toContain('--since takes seconds or a duration like 90s, 10m or 1h, got "yesterday"');
  });

  it("exposes the proxy series on /metrics and logs one proxy.request line per request with its numbers", async () => {
    const current = world ?? (await startWorld());
    const gateway = await startGatewayProcess(current.poolPath, { CREDPOOL_LOG_LEVEL: "info" });
    extra.push(gateway);
    await askOk(gateway.url, current.token, "claude-metrics", true);
    await askOk(gateway.url, current.token, "claude-metrics");
    const admin = await current.createToken("ops", "admin");
    const metrics = await (
      await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })
    ).text();
    const series = (name: string) => metrics.split("\n").filter((line) => line.startsWith(name));
    expect(series("credpool_proxy_requests_total")).toContain(
      'credpool_proxy_requests_total{provider="anthropic",credential="ant-main",model="claude-metrics",status="200"} 2',
    );
    expect(series("credpool_tokens_total")).toEqual(
      expect.arrayContaining([
        `credpool_tokens_total{provider="anthropic",credential="ant-main",model="claude-metrics",type="input"} ${2 * INPUT}`,
        `credpool_tokens_total{provider="anthropic",credential="ant-main",model="claude-metrics",type="output"} ${2 * OUTPUT}`,
        `credpool_tokens_total{provider="anthropic",credential="ant-main",model="claude-metrics",type="cache_read"} ${2 * CACHE_READ}`,
        `credpool_tokens_total{provider="anthropic",credential="ant-main",model="claude-metrics",type="cache_write"} ${2 * CACHE_WRITE}`,
      ]),
    );
    expect(series('credpool_proxy_upstream_seconds_count{provider="anthropic"}')).toEqual([
      'credpool_proxy_upstream_seconds_count{provider="anthropic"} 2',
    ]);
    expect(series("credpool_proxy_upstream_seconds_bucket").length).toBeGreaterThan(5);
    expect(metrics).toContain("# TYPE credpool_proxy_failovers_total counter");
    expect(metrics).toContain("# TYPE credpool_proxy_refresh_retries_total counter");

    const line = await gateway.child.waitFor<Record<string, unknown>>(
      (message) => message.event === "proxy.request" && message.model === "claude-metrics",
    );
    expect(line).toMatchObject({
      level: 30,
      requestId: "req-claude-metrics",
      client: "agent",
      provider: "anthropic",
      credential: "ant-main",
      model: "claude-metrics",
      status: 200,
      attempts: 1,
      tokens: { input: INPUT, output: OUTPUT, cacheRead: CACHE_READ, cacheWrite: CACHE_WRITE },
    });
    expect(line.upstreamMs).toEqual(expect.any(Number));
    expect(findSecretLines(gateway.child, [ANTHROPIC_KEY, OPENAI_KEY, current.token, admin])).toEqual([]);
  });
});

describe("failover in the metrics and the usage file", () => {
  let world: ProxyWorld | undefined;
  afterAll(async () => {
    await world?.stop();
  });

  it("counts one failover and books the request and its tokens to the credential that answered", async () => {
    const first = "sk-ant-api03-FIXTUREproxyUsageFIRST-0123456789abcdef";
    const second = "sk-ant-api03-FIXTUREproxyUsageSECOND-0123456789abcde";
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "first", priority: 0, secrets: { apiKey: first } },
        { provider: "anthropic", label: "second", priority: 1, secrets: { apiKey: second } },
      ],
      upstreamText: TEXT,
    });
    world.upstream.behave(first, { type: "status", status: 429, headers: { "retry-after": "30" } });
    await askOk(world.gateway.url, world.token, "claude-failover");
    const admin = await world.createToken("ops", "admin");
    const metrics = await (
      await fetch(`${world.gateway.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })
    ).text();
    expect(metrics).toContain('credpool_proxy_failovers_total{provider="anthropic"} 1');
    expect(metrics).toContain(
      'credpool_proxy_requests_total{provider="anthropic",credential="second",model="claude-failover",status="200"} 1',
    );
    expect(metrics).toContain('credpool_proxy_upstream_seconds_count{provider="anthropic"} 2');
    const line = await world.gateway.child.waitFor<Record<string, unknown>>(
      (message) => message.event === "proxy.request" && message.model === "claude-failover",
    );
    expect(line).toMatchObject({ credential: "second", attempts: 2, status: 200 });
    expect(await waitForUsage(world.poolPath, { model: "claude-failover" }, 1)).toEqual({
      requests: 1,
      input: 12,
      output: OUTPUT,
      cacheRead: 0,
      cacheWrite: 0,
    });
    expect(sumUsage(await readUsageBuckets(world.poolPath), { credentialLabel: "first" }).requests).toBe(0);
  });
});
