// The /openai-codex route: a ChatGPT-plan OAuth account's access token goes to the Codex backend's Responses API as
// Bearer, with the account id beside it; the client's gateway token and any account id it sent never arrive.
import { afterEach, describe, expect, it } from "vitest";
import { startProxyWorld, type ProxyWorld } from "./world.js";

const ACCESS_TOKEN = "codex-access-FIXTUREcodexROUTE-0123456789";
const REFRESH_TOKEN = "codex-refresh-FIXTUREcodexROUTE-0123456789";
const ACCOUNT_ID = "acct-fixture-0001";

describe("proxy: the openai-codex route", () => {
  let world: ProxyWorld | undefined;
  afterEach(async () => {
    await world?.stop();
    world = undefined;
  });

  it("sends <base>/responses with the credential's Bearer token and chatgpt-account-id, and the answer back", async () => {
    world = await startProxyWorld({
      credentials: [
        {
          provider: "openai-codex",
          kind: "oauth",
          label: "chatgpt-plus",
          secrets: {
            accessToken: ACCESS_TOKEN,
            refreshToken: REFRESH_TOKEN,
            // Far from due, so no refresh is attempted before the request.
            expiresAt: Date.now() + 24 * 3_600_000,
            accountId: ACCOUNT_ID,
          },
        },
      ],
    });
    const response = await fetch(`${world.gateway.url}/openai-codex/responses`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${world.token}`,
        "chatgpt-account-id": "acct-the-client-made-up",
        "openai-beta": "responses=experimental",
        "content-type": "application/json",
      },
      body: JSON.stringify({ model: "gpt-5-codex", input: "hi", stream: false }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { object: string; output: Array<{ content: Array<{ text: string }> }> };
    expect(body.object).toBe("response");
    expect(body.output[0]?.content[0]?.text).toBe(world.upstream.text);

    expect(world.upstream.requests).toHaveLength(1);
    const [request] = world.upstream.requests;
    expect(request?.url).toBe("/backend-api/codex/responses");
    expect(request?.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(request?.headers["chatgpt-account-id"]).toBe(ACCOUNT_ID);
    expect(request?.headers["openai-beta"]).toBe("responses=experimental");
    const raw = request?.rawHeaders.join("\n") ?? "";
    expect(raw).not.toContain(world.token);
    expect(raw).not.toContain(REFRESH_TOKEN);
    expect(raw).not.toContain("acct-the-client-made-up");
  });

  it("answers a throttled Codex account in OpenAI's error format with retry-after", async () => {
    world = await startProxyWorld({
      credentials: [
        {
          provider: "openai-codex",
          kind: "oauth",
          label: "chatgpt-plus",
          secrets: { accessToken: ACCESS_TOKEN, expiresAt: Date.now() + 24 * 3_600_000, accountId: ACCOUNT_ID },
        },
      ],
    });
    world.upstream.script(ACCESS_TOKEN, { type: "status", status: 429, headers: { "retry-after": "40" } });
    const send = (): Promise<Response> =>
      fetch(`${world!.gateway.url}/openai-codex/responses`, {
        method: "POST",
        headers: { authorization: `Bearer ${world!.token}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-5-codex", input: "hi", stream: false }),
      });
    expect((await send()).status).toBe(429);
    // The account is benched now: the gateway answers for it without asking the backend.
    const response = await send();
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(30);
    const body = (await response.json()) as { type?: string; error: { type: string; code: string; message: string } };
    expect(body.type).toBeUndefined();
    expect(body.error).toMatchObject({ type: "rate_limit_exceeded", code: "credpool_no_credential" });
    expect(body.error.message).toContain("openai-codex");
    expect(world.upstream.requests).toHaveLength(1);
  });
});
