// Issue 13, test 9: a delegate token mints a child for anthropic only, with 1 concurrent request and a 2 s TTL,
// through the typed client against a real gateway process. The child is refused for openai, for a second
// concurrent request, after its TTL and after its parent is revoked; no token can mint one wider than itself.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isPoolError } from "@credpool/pool-core";
import { createGatewayClient, createTokenStore, type TokenScope } from "@credpool/pool-gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxyWorld, type ProxyWorld } from "./world.js";

const ANTHROPIC_KEY = "sk-ant-api03-FIXTUREdelegationANT-0123456789abcdefghij";
const OPENAI_KEY = "sk-proj-FIXTUREdelegationOAI-0123456789abcdefghijklmn";
const cli = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));

function anthropic(world: ProxyWorld, token: string, stream = false, signal?: AbortSignal): Promise<Response> {
  return fetch(`${world.gateway.url}/anthropic/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-fake-1",
      max_tokens: 64,
      stream,
      messages: [{ role: "user", content: "hi" }],
    }),
    ...(signal ? { signal } : {}),
  });
}

function openai(world: ProxyWorld, token: string): Promise<Response> {
  return fetch(`${world.gateway.url}/openai/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-fake-1", messages: [{ role: "user", content: "hi" }] }),
  });
}

async function errorOf(response: Response): Promise<{ type: string; message: string }> {
  const body = (await response.json()) as { type?: string; error: { type: string; message: string } };
  return body.error;
}

async function createToken(world: ProxyWorld, name: string, scope: TokenScope): Promise<string> {
  const store = createTokenStore({ dir: world.dir.path });
  try {
    return (await store.create(name, scope)).token;
  } finally {
    await store.close();
  }
}

/** What the typed client's createToken refused with: the gateway's code and message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isPoolError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected createToken to be refused");
}

function runCli(world: ProxyWorld, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, "--pool", world.poolPath, ...args],
      { env: { PATH: process.env.PATH ?? "" } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Sends with `token` until the gateway refuses it (it follows the token file within a moment); the last status. */
async function untilRefused(world: ProxyWorld, token: string): Promise<number[]> {
  const statuses: number[] = [];
  const guardUntil = Date.now() + 15_000;
  for (;;) {
    const response = await anthropic(world, token);
    await response.arrayBuffer();
    statuses.push(response.status);
    if (response.status !== 200 || Date.now() > guardUntil) return statuses;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("tokens for delegate agents (issue 13, test 9)", () => {
  let world: ProxyWorld;
  let parentToken: string;

  beforeAll(async () => {
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai", secrets: { apiKey: OPENAI_KEY } },
      ],
    });
    parentToken = await createToken(world, "planner", "delegate");
  });
  afterAll(async () => {
    await world?.stop();
  });

  it("a child for anthropic only, 1 concurrent request, 2 s TTL: refused for openai, for a second request in flight, and after its TTL", async () => {
    const parent = createGatewayClient({ url: world.gateway.url, token: parentToken });
    const child = await parent.createToken({ name: "helper", providers: ["anthropic"], maxConcurrent: 1, ttl: "2s" });
    expect(child).toMatchObject({ scope: "proxy", limits: { providers: ["anthropic"], maxConcurrent: 1 } });
    expect(child.token).toMatch(/^cpg_[a-z0-9]+_/);

    // The parent itself may use openai; the child may not.
    const byParent = await openai(world, parentToken);
    expect(byParent.status).toBe(200);
    await byParent.arrayBuffer();
    const forbidden = await openai(world, child.token);
    expect(forbidden.status).toBe(403);
    expect(await errorOf(forbidden)).toMatchObject({
      type: "permission_error",
      message: expect.stringContaining("limit: providers") as string,
    });

    // The first request is held open by a slow stream; the second, while it is in flight, is refused.
    world.upstream.script(ANTHROPIC_KEY, { type: "ok", eventDelayMs: 500 });
    const seen = world.upstream.requests.length;
    const abort = new AbortController();
    const first = anthropic(world, child.token, true, abort.signal).catch(() => undefined);
    await world.upstream.waitFor(() => world.upstream.requests.length > seen);
    const second = await anthropic(world, child.token);
    expect(second.status).toBe(429);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await errorOf(second)).toMatchObject({
      type: "rate_limit_error",
      message: expect.stringContaining("limit: maxConcurrent") as string,
    });
    abort.abort();
    await first;
    expect(world.upstream.requests.length).toBe(seen + 1);

    // Past its TTL the child is no token at all.
    while (Date.now() <= child.expiresAt + 200) await new Promise((resolve) => setTimeout(resolve, 100));
    const expired = await anthropic(world, child.token);
    expect(expired.status).toBe(401);
    expect(await errorOf(expired)).toMatchObject({ type: "authentication_error" });
    expect(world.upstream.requests.length).toBe(seen + 1);
  });

  it("no token can mint one wider than itself, and a proxy token cannot mint at all", async () => {
    const parent = createGatewayClient({ url: world.gateway.url, token: parentToken });
    const middle = await parent.createToken({
      name: "middle",
      scope: "delegate",
      providers: ["anthropic"],
      models: ["claude-*"],
      maxConcurrent: 1,
      rpm: 30,
      ttl: "10m",
    });
    const asMiddle = createGatewayClient({ url: world.gateway.url, token: middle.token });
    const wider: Array<[Parameters<typeof asMiddle.createToken>[0], string]> = [
      [{ name: "w1", providers: ["openai"] }, "providers:"],
      [{ name: "w2", providers: ["anthropic", "openai"] }, "providers:"],
      [{ name: "w3", models: ["*"] }, "models:"],
      [{ name: "w4", maxConcurrent: 2 }, "maxConcurrent:"],
      [{ name: "w5", rpm: 31 }, "rpm:"],
      [{ name: "w6", ttl: "1h" }, "ttl:"],
      [{ name: "w7", scope: "admin" as "proxy" }, "scope:"],
    ];
    for (const [request, field] of wider) {
      const refused = await refusal(asMiddle.createToken(request));
      expect(refused.code, request.name).toBe("E_FORBIDDEN");
      expect(refused.message.startsWith(field), refused.message).toBe(true);
    }
    // Asking for nothing gives exactly the middle token's limits, never more, and no longer a life.
    const narrow = await asMiddle.createToken({ name: "narrow" });
    expect(narrow.limits).toEqual({ providers: ["anthropic"], models: ["claude-*"], maxConcurrent: 1, rpm: 30 });
    expect(narrow.expiresAt).toBeLessThanOrEqual(middle.expiresAt);
    expect(narrow.scope).toBe("proxy");

    const asProxy = createGatewayClient({ url: world.gateway.url, token: narrow.token });
    const byProxy = await refusal(asProxy.createToken({ name: "grandchild" }));
    expect(byProxy.code).toBe("E_FORBIDDEN");
    expect(byProxy.message).toContain("needs scope delegate");
    const plain = createGatewayClient({ url: world.gateway.url, token: await createToken(world, "plain", "proxy") });
    expect((await refusal(plain.createToken({ name: "x" }))).code).toBe("E_FORBIDDEN");
  });

  it("a child is refused once its parent is revoked (credpool gateway token revoke)", async () => {
    const bossToken = await createToken(world, "boss", "delegate");
    const boss = createGatewayClient({ url: world.gateway.url, token: bossToken });
    const child = await boss.createToken({ name: "boss-helper", providers: ["anthropic"] });
    const before = await anthropic(world, child.token);
    expect(before.status).toBe(200);
    await before.arrayBuffer();

    const revoked = await runCli(world, ["gateway", "token", "revoke", "boss"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const statuses = await untilRefused(world, child.token);
    expect(statuses.at(-1)).toBe(401);
  });
});
