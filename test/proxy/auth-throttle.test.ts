// Failed authentications on the proxy routes are throttled like the lease API's, by the same buckets: a client
// stuck on a wrong token gets 429 with retry-after (in the provider's format) after a few 401s, whichever routes it
// tries, while a valid token keeps working.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askAnthropic, askLease, askOpenAi, startProxyWorld, type ProxyWorld } from "./world.js";

const ANTHROPIC_KEY = "sk-ant-api03-FIXTUREthrottleANT-0123456789abcdefghijk";
const OPENAI_KEY = "sk-proj-FIXTUREthrottleOAI-0123456789abcdefghijklmnop";
/** The gateway's default burst of failures per token id (authPrefixFailureBurst). */
const PREFIX_BURST = 5;

const anthropic = (world: ProxyWorld, token: string) => askAnthropic(world, token, { model: "claude-fake-1" });
const openai = (world: ProxyWorld, token: string) => askOpenAi(world, token, { model: "gpt-fake-1" });

async function statusAndBody(response: Promise<Response>) {
  const done = await response;
  return {
    status: done.status,
    retryAfter: done.headers.get("retry-after"),
    body: (await done.json()) as { type?: string; error: { type?: string; code?: string; message: string } },
  };
}

describe("failed authentications on the proxy routes", () => {
  let world: ProxyWorld;
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

  it("turns a wrong token's 401s into 429 with retry-after, in the Anthropic format, and lets a valid token through", async () => {
    const forged = `cpg_abcdefabcdef_${"Z".repeat(32)}`;
    // Sent together, so the bucket's slow refill (one per 5 s) cannot add a sixth try in between.
    const refused = await Promise.all(
      Array.from({ length: PREFIX_BURST }, () => statusAndBody(anthropic(world, forged))),
    );
    for (const one of refused) {
      expect(one.status).toBe(401);
      expect(one.body.error.type).toBe("authentication_error");
    }
    const throttled = await statusAndBody(anthropic(world, forged));
    expect(throttled.status).toBe(429);
    expect(Number(throttled.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(throttled.body).toEqual({
      type: "error",
      error: {
        type: "rate_limit_error",
        message: expect.stringContaining("Too many failed authentications") as string,
      },
    });
    const valid = await anthropic(world, world.token);
    expect(valid.status).toBe(200);
    await valid.arrayBuffer();
    expect(world.upstream.requests.every((request) => request.key === ANTHROPIC_KEY)).toBe(true);
  });

  it("counts failures on the lease API and the proxy routes in the same buckets (OpenAI format)", async () => {
    const forged = `cpg_fedcbafedcba_${"Y".repeat(32)}`;
    const first = await Promise.all([
      ...Array.from({ length: PREFIX_BURST - 2 }, () => askLease(world, forged)),
      openai(world, forged),
      openai(world, forged),
    ]);
    expect(first.map((response) => response.status)).toEqual(Array.from({ length: PREFIX_BURST }, () => 401));
    await Promise.all(first.map((response) => response.arrayBuffer()));
    const throttled = await statusAndBody(openai(world, forged));
    expect(throttled.status).toBe(429);
    expect(throttled.body.error).toMatchObject({ type: "rate_limit_exceeded", code: "credpool_auth_throttled" });
    // And back: the lease API sees the same empty bucket.
    const back = await askLease(world, forged);
    expect(back.status).toBe(429);
    await back.arrayBuffer();
  });
});
