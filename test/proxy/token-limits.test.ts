// Client token limits on the proxy routes, against a real gateway process: models (names and globs), requests per
// minute, concurrency, and a per-token maxWaitMs. A refused request gets the provider's own error format, with a
// message naming the limit, and never reaches the upstream.
import { createTokenStore, type CreateTokenOptions, type TokenScope } from "@credpool/pool-gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askAnthropic, askOpenAi, startProxyWorld, type ProxyWorld } from "./world.js";

const ANTHROPIC_KEY = "sk-ant-api03-FIXTURElimitsANTHROPIC-0123456789abcdef";
const OPENAI_KEY = "sk-proj-FIXTURElimitsOPENAI-0123456789abcdefghijklmno";

interface ErrorBody {
  type?: string;
  error: { type: string; message: string; code?: string; param?: null };
}

/** Status, retry-after and error body (when the answer is JSON) of an answer, read whole. */
async function answer(
  response: Promise<Response>,
): Promise<{ status: number; retryAfter: string | null; code: string | null; body: ErrorBody }> {
  const done = await response;
  const text = await done.text();
  const json = (done.headers.get("content-type") ?? "").includes("json");
  return {
    status: done.status,
    retryAfter: done.headers.get("retry-after"),
    code: done.headers.get("x-credpool-code"),
    body: (json ? JSON.parse(text) : { error: { type: "", message: text } }) as ErrorBody,
  };
}

describe("client token limits on the proxy routes", () => {
  let world: ProxyWorld;

  async function token(name: string, scope: TokenScope, options: CreateTokenOptions): Promise<string> {
    const store = createTokenStore({ dir: world.dir.path });
    try {
      return (await store.create(name, scope, options)).token;
    } finally {
      await store.close();
    }
  }

  beforeAll(async () => {
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai", secrets: { apiKey: OPENAI_KEY } },
      ],
    });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it("allows only the models a token names (exact or glob), in each provider's error format", async () => {
    const limited = await token("models-only", "proxy", { limits: { models: ["claude-sonnet-*", "gpt-4o"] } });
    const seen = world.upstream.requests.length;
    expect((await answer(askAnthropic(world, limited, { model: "claude-sonnet-4-5" }))).status).toBe(200);
    expect((await answer(askOpenAi(world, limited, { model: "gpt-4o" }))).status).toBe(200);
    expect(world.upstream.requests.length).toBe(seen + 2);

    const wrongClaude = await answer(askAnthropic(world, limited, { model: "claude-opus-4" }));
    expect(wrongClaude.status).toBe(403);
    expect(wrongClaude.body).toEqual({
      type: "error",
      error: { type: "permission_error", message: expect.stringContaining("limit: models") as string },
    });
    expect(wrongClaude.body.error.message).toContain('names "claude-opus-4"');
    // Anthropic's error body has no code field: the header tells credpool's refusals apart in every format.
    expect(wrongClaude.code).toBe("credpool_token_limit");
    const wrongGpt = await answer(askOpenAi(world, limited, { model: "gpt-4o-mini" }));
    expect(wrongGpt.status).toBe(403);
    expect(wrongGpt.body).toEqual({
      error: {
        type: "permission_error",
        code: "credpool_token_limit",
        param: null,
        message: expect.stringContaining("limit: models") as string,
      },
    });
    // A body that names no model cannot slip past the limit.
    const noModel = await answer(askAnthropic(world, limited, {}));
    expect(noModel.status).toBe(403);
    expect(noModel.body.error.message).toContain("names no model");
    expect(world.upstream.requests.length).toBe(seen + 2);
  });

  it("counts requests per minute per token: past the limit, 429 with retry-after in each provider's format", async () => {
    const anthropicToken = await token("rpm-3", "proxy", { limits: { rpm: 3 } });
    for (let i = 0; i < 3; i++)
      expect((await answer(askAnthropic(world, anthropicToken, { model: "claude-fake-1" }))).status).toBe(200);
    const over = await answer(askAnthropic(world, anthropicToken, { model: "claude-fake-1" }));
    expect(over.status).toBe(429);
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(over.retryAfter)).toBeLessThanOrEqual(60);
    expect(over.body).toEqual({
      type: "error",
      error: { type: "rate_limit_error", message: expect.stringContaining("limit: rpm") as string },
    });

    const openaiToken = await token("rpm-1", "proxy", { limits: { rpm: 1 } });
    expect((await answer(askOpenAi(world, openaiToken, { model: "gpt-fake-1" }))).status).toBe(200);
    const overOpenai = await answer(askOpenAi(world, openaiToken, { model: "gpt-fake-1" }));
    expect(overOpenai.status).toBe(429);
    expect(Number(overOpenai.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(overOpenai.body.error).toMatchObject({ type: "rate_limit_exceeded", code: "credpool_token_limit" });
    expect(overOpenai.code).toBe("credpool_token_limit");
    expect(overOpenai.body.error.message).toContain("1 requests per minute (limit: rpm)");
  });

  it("a parent and the children it minted share the parent's requests per minute", async () => {
    await token("family", "delegate", { limits: { rpm: 2 } });
    const parentToken = await token("family-self", "proxy", { parent: "family" });
    const childToken = await token("family-child", "proxy", { parent: "family" });
    expect((await answer(askAnthropic(world, parentToken, { model: "claude-fake-1" }))).status).toBe(200);
    expect((await answer(askAnthropic(world, childToken, { model: "claude-fake-1" }))).status).toBe(200);
    // Each child has used one of its own 2, but the family's 2 are spent.
    const third = await answer(askAnthropic(world, childToken, { model: "claude-fake-1" }));
    expect(third.status).toBe(429);
    expect(third.body.error.message).toContain('Gateway token "family" is at its limit of 2 requests per minute');
  });

  it("frees a concurrency slot when its request ends", async () => {
    const single = await token("one-at-a-time", "proxy", { limits: { maxConcurrent: 1 } });
    world.upstream.script(OPENAI_KEY, { type: "ok", eventDelayMs: 300 });
    const seen = world.upstream.requests.length;
    const first = answer(askOpenAi(world, single, { model: "gpt-fake-1", stream: true }));
    await world.upstream.waitFor(() => world.upstream.requests.length > seen);
    const second = await answer(askOpenAi(world, single, { model: "gpt-fake-1" }));
    expect(second.status).toBe(429);
    expect(second.body.error).toMatchObject({ type: "rate_limit_exceeded", code: "credpool_token_limit" });
    expect(second.body.error.message).toContain("1 concurrent request (limit: maxConcurrent)");
    expect((await first).status).toBe(200);
    expect((await answer(askOpenAi(world, single, { model: "gpt-fake-1" }))).status).toBe(200);
  });

  it("a token's maxWaitMs overrides proxy.maxWaitMs (default 0): it waits for the benched key, another token does not", async () => {
    const patient = await token("patient", "proxy", { limits: { maxWaitMs: 10_000 } });
    const impatient = await token("impatient", "proxy", {});
    world.upstream.script(ANTHROPIC_KEY, { type: "status", status: 429, headers: { "retry-after": "1" } });
    const waited = await answer(askAnthropic(world, patient, { model: "claude-wait-1" }));
    expect(waited.status).toBe(200);
    world.upstream.script(ANTHROPIC_KEY, { type: "status", status: 429, headers: { "retry-after": "1" } });
    const refused = await answer(askAnthropic(world, impatient, { model: "claude-wait-2" }));
    expect(refused.status).toBe(429);
    expect(refused.body.error.type).toBe("rate_limit_error");
  });
});
