// Failover inside one request: before the first byte reaches the client, a throttled, overloaded, failing or
// unreachable credential is benched by the pool's health rules and the same request goes to the next one. After
// the first byte nothing is retried, and a client that goes away costs the credential nothing.
import { createServer } from "node:net";
import type { AddCredentialInput } from "@credpool/pool-core";
import type { FakeUpstreamBehavior } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { benchedForSeconds, readAll, startProxyWorld, type ProxyWorld } from "./world.js";

const KEYS = [
  "sk-ant-api03-FIXTUREfailoverKEY1-0123456789abcdefghij",
  "sk-ant-api03-FIXTUREfailoverKEY2-0123456789abcdefghij",
  "sk-ant-api03-FIXTUREfailoverKEY3-0123456789abcdefghij",
] as const;
const HOUR_S = 3600;
const MODEL = "claude-fake-1";

function threeKeys(overrides: Partial<AddCredentialInput>[] = []): AddCredentialInput[] {
  return KEYS.map((apiKey, index) => ({
    provider: "anthropic",
    label: `key${index + 1}`,
    secrets: { apiKey },
    ...overrides[index],
  }));
}

function messages(world: ProxyWorld, stream: boolean, signal?: AbortSignal): Promise<Response> {
  return fetch(`${world.gateway.url}/anthropic/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": world.token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, max_tokens: 64, stream, messages: [{ role: "user", content: "hi" }] }),
    ...(signal ? { signal } : {}),
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("proxy failover before the first byte", () => {
  let world: ProxyWorld | undefined;
  afterEach(async () => {
    await world?.stop();
    world = undefined;
  });

  it("answers one 200 after two 429s, benching the first key for its retry-after and the second until its unified reset", async () => {
    world = await startProxyWorld({ credentials: threeKeys() });
    const resetAt = Math.floor(Date.now() / 1000) + 4 * HOUR_S;
    world.upstream.script(KEYS[0], { type: "status", status: 429, headers: { "retry-after": "30" } });
    world.upstream.script(KEYS[1], {
      type: "status",
      status: 429,
      headers: {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": String(resetAt),
      },
    });
    const response = await messages(world, false);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { content: Array<{ text: string }> };
    expect(body.content[0]?.text).toBe(world.upstream.text);
    expect(world.upstream.requests.map((request) => request.key)).toEqual([...KEYS]);
    const [first, second, third] = await Promise.all(["key1", "key2", "key3"].map((label) => world!.credential(label)));
    // A 429 naming a model benches that model on the key (the pool's rule); the request named claude-fake-1.
    expect(benchedForSeconds(first!, MODEL)).toBeGreaterThanOrEqual(25);
    expect(benchedForSeconds(first!, MODEL)).toBeLessThanOrEqual(30);
    expect(Math.abs(benchedForSeconds(second!, MODEL) - 4 * HOUR_S)).toBeLessThanOrEqual(60);
    expect(benchedForSeconds(third!, MODEL)).toBe(0);
  });

  const failures: Array<[string, FakeUpstreamBehavior, boolean]> = [
    ["529 overloaded", { type: "status", status: 529 }, false],
    ["503", { type: "status", status: 503 }, false],
    ["an overloaded error event inside a 200 stream before any content", { type: "overloaded-in-stream" }, true],
    ["a connection dropped without an answer", { type: "refuse" }, false],
  ];
  for (const [name, behavior, stream] of failures) {
    it(`answers one whole 200 after two credentials fail with ${name}, and benches both`, async () => {
      world = await startProxyWorld({ credentials: threeKeys() });
      world.upstream.script(KEYS[0], behavior);
      world.upstream.script(KEYS[1], behavior);
      const response = await messages(world, stream);
      expect(response.status).toBe(200);
      const { text, error } = await readAll(response);
      expect(error).toBeUndefined();
      if (stream) {
        expect(text).not.toContain("overloaded_error");
        expect(text).toContain("event: message_stop");
      } else {
        expect((JSON.parse(text) as { content: Array<{ text: string }> }).content[0]?.text).toBe(world.upstream.text);
      }
      expect(world.upstream.requests.map((request) => request.key)).toEqual([...KEYS]);
      const [first, second, third] = await Promise.all(
        ["key1", "key2", "key3"].map((label) => world!.credential(label)),
      );
      expect(benchedForSeconds(first!, MODEL)).toBeGreaterThan(0);
      expect(benchedForSeconds(second!, MODEL)).toBeGreaterThan(0);
      expect(benchedForSeconds(third!, MODEL)).toBe(0);
    });
  }

  it("moves on from a credential whose baseUrl refuses connections", async () => {
    const port = await closedPort();
    world = await startProxyWorld({ credentials: threeKeys([{ baseUrl: `http://127.0.0.1:${port}` }]) });
    const response = await messages(world, true);
    expect(response.status).toBe(200);
    expect((await readAll(response)).text).toContain("event: message_stop");
    expect(world.upstream.requests.map((request) => request.key)).toEqual([KEYS[1]]);
    expect((await world.credential("key1")).status.state).toBe("exhausted");
  });

  it("says the upstream was unreachable, in the provider's format, when the only credential's connection is refused", async () => {
    const port = await closedPort();
    world = await startProxyWorld({ credentials: threeKeys([{ baseUrl: `http://127.0.0.1:${port}` }]).slice(0, 1) });
    const response = await messages(world, false);
    expect(response.status).toBe(502);
    const body = (await response.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.message).toContain("ECONNREFUSED");
    expect(world.upstream.requests).toHaveLength(0);
  });

  it("passes the last upstream error on when every attempt fails, in the provider's format", async () => {
    world = await startProxyWorld({ credentials: threeKeys() });
    for (const key of KEYS) world.upstream.behave(key, { type: "status", status: 529 });
    const response = await messages(world, false);
    expect(response.status).toBe(529);
    expect(await response.json()).toEqual({ type: "error", error: { type: "overloaded_error", message: "Fake 529" } });
    expect(world.upstream.requests).toHaveLength(3);
  });

  it("answers 429 with retry-after in the provider's format when every credential is benched", async () => {
    world = await startProxyWorld({ credentials: threeKeys().slice(0, 1) });
    world.upstream.script(KEYS[0], { type: "status", status: 429, headers: { "retry-after": "40" } });
    expect((await messages(world, false)).status).toBe(429);
    const response = await messages(world, false);
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(30);
    const body = (await response.json()) as { type: string; error: { type: string } };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("rate_limit_error");
    expect(world.upstream.requests).toHaveLength(1);
  });

  it("moves on from a credential whose upstream sends no response head within headersTimeoutMs", async () => {
    world = await startProxyWorld({ credentials: threeKeys(), proxy: { headersTimeoutMs: 500 } });
    world.upstream.script(KEYS[0], { type: "hang" });
    const response = await messages(world, true);
    expect(response.status).toBe(200);
    expect((await readAll(response)).text).toContain("event: message_stop");
    expect(world.upstream.requests.map((request) => request.key)).toEqual([KEYS[0], KEYS[1]]);
    expect(benchedForSeconds(await world.credential("key1"), MODEL)).toBeGreaterThan(0);
  });

  it("waits for a benched credential that recovers within maxWaitMs and then serves the request with it", async () => {
    world = await startProxyWorld({ credentials: threeKeys().slice(0, 1), proxy: { maxWaitMs: 10_000 } });
    world.upstream.script(KEYS[0], { type: "status", status: 429, headers: { "retry-after": "1" } });
    const response = await messages(world, false);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(world.upstream.requests.map((request) => request.behavior)).toEqual(["status", "ok"]);
  });

  it("passes client errors through unchanged and benches nothing", async () => {
    world = await startProxyWorld({ credentials: threeKeys() });
    const tooLong = {
      type: "error",
      error: { type: "invalid_request_error", message: "prompt is too long: 210000 tokens > 200000 maximum" },
    };
    world.upstream.script(KEYS[0], { type: "status", status: 400, body: tooLong });
    const response = await messages(world, false);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual(tooLong);
    expect(world.upstream.requests).toHaveLength(1);
    expect((await world.credential("key1")).status.state).toBe("ok");
  });

  it("serves the request with the next key when a 400 says the account is out of credit, benching the first", async () => {
    world = await startProxyWorld({ credentials: threeKeys() });
    world.upstream.script(KEYS[0], {
      type: "status",
      status: 400,
      body: {
        type: "error",
        error: {
          type: "invalid_request_error",
          message:
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        },
      },
    });
    const response = await messages(world, false);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(world.upstream.requests.map((request) => request.behavior)).toEqual(["status", "ok"]);
    const first = await world.credential("key1");
    expect(first.status.state).toBe("exhausted");
    expect(benchedForSeconds(first)).toBeGreaterThan(HOUR_S);
  });

  it("marks an API key the upstream refuses with 401 dead and serves the request with the next", async () => {
    world = await startProxyWorld({ credentials: threeKeys() });
    world.upstream.script(KEYS[0], { type: "status", status: 401 });
    const response = await messages(world, false);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect((await world.credential("key1")).status.state).toBe("dead");
  });
});

describe("proxy after the first byte", () => {
  let world: ProxyWorld | undefined;
  afterEach(async () => {
    await world?.stop();
    world = undefined;
  });

  it("never replays a stream the upstream cut halfway: the client gets the partial stream, then an error", async () => {
    world = await startProxyWorld({ credentials: threeKeys() });
    // Spaced events, so the first ones have reached the client before the cut.
    world.upstream.script(KEYS[0], { type: "cut", afterEvents: 5, eventDelayMs: 50 });
    const response = await messages(world, true);
    expect(response.status).toBe(200);
    const { text, error } = await readAll(response);
    expect(error).toBeDefined();
    expect(text).toContain("event: content_block_delta");
    expect(text).not.toContain("event: message_stop");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(world.upstream.requests).toHaveLength(1);
  });

  it("closes the upstream connection when the client goes away mid-stream, releases the lease and benches nothing", async () => {
    world = await startProxyWorld({
      credentials: [{ provider: "anthropic", label: "capped", maxConcurrent: 1, secrets: { apiKey: KEYS[0] } }],
    });
    world.upstream.script(KEYS[0], { type: "ok", eventDelayMs: 100 });
    const abort = new AbortController();
    const response = await messages(world, true, abort.signal);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let seen = "";
    while (!seen.includes("content_block_delta")) {
      const { value } = await reader.read();
      seen += new TextDecoder().decode(value);
    }
    abort.abort();
    const upstream = world.upstream;
    await upstream.waitFor(() => upstream.requests[0]?.clientClosed === true);
    // The lease record of the capped credential goes away (no timing asserted: wait for the state, guard the wait).
    for (let guard = 0; (await world.credential("capped")).leases?.length; guard++) {
      if (guard > 200) throw new Error("the lease was never released");
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await world.credential("capped")).status.state).toBe("ok");
    const again = await messages(world, false);
    expect(again.status).toBe(200);
  });
});
