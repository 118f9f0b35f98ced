// Provider adapters: what each one sends, how it reads the answer, where its endpoint comes from, and how every
// kind of token-endpoint failure is classified.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRefresher, isPoolError, type Credential } from "@credpool/pool-core";
import { postRefreshRequest, resolveTokenEndpoint, type TokenEndpoint } from "../../src/refresh/index.js";
import { startFakeTokenServer, type FakeTokenServer } from "@credpool/pool-testkit";

const NOW = Date.now();

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part(claims)}.sig`;
}

function oauthCredential(provider: string, expiresAt: number | undefined, accessToken = "at-0"): Credential {
  return {
    id: "c1",
    label: "work",
    provider,
    kind: "oauth",
    priority: 0,
    source: "manual",
    secrets: { accessToken, refreshToken: "rt-0", ...(expiresAt === undefined ? {} : { expiresAt }) },
    tokenGeneration: 0,
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
  };
}

function requestOptions(timeoutMs = 2000) {
  return { fetch: globalThis.fetch, timeoutMs, now: () => NOW, previous: {} };
}

describe("token endpoint resolution", () => {
  it("uses the built-in Anthropic and OpenAI endpoints and client ids when nothing overrides them", () => {
    const anthropic = resolveTokenEndpoint("anthropic", undefined, {});
    expect(anthropic).toMatchObject({
      adapter: "anthropic",
      tokenUrl: "https://platform.claude.com/v1/oauth/token",
      clientId: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
      bodyStyle: "json",
    });
    const codex = resolveTokenEndpoint("openai-codex", undefined, {});
    expect(codex).toMatchObject({
      adapter: "openai-codex",
      tokenUrl: "https://auth.openai.com/oauth/token",
      clientId: "app_EMoamEEZ73f0CkXaXp7hrann",
    });
  });

  it("takes options (config.json) over the defaults, and environment variables over both", () => {
    const env = {
      CREDPOOL_ANTHROPIC_TOKEN_URL: "http://127.0.0.1:9/token",
      CREDPOOL_ANTHROPIC_CLIENT_ID: "env-client",
      CREDPOOL_ANTHROPIC_REFRESH_SKEW_MS: "1234",
      CREDPOOL_OPENAI_TOKEN_URL: "http://localhost:9/openai",
    };
    expect(resolveTokenEndpoint("anthropic", undefined, env)).toMatchObject({
      tokenUrl: "http://127.0.0.1:9/token",
      clientId: "env-client",
      skewMs: 1234,
    });
    expect(resolveTokenEndpoint("openai-codex", undefined, env).tokenUrl).toBe("http://localhost:9/openai");
    expect(resolveTokenEndpoint("anthropic", { tokenUrl: "https://idp.example/token", skewMs: 10 }, env)).toMatchObject(
      {
        tokenUrl: "http://127.0.0.1:9/token",
        clientId: "env-client",
        skewMs: 1234,
      },
    );
    expect(resolveTokenEndpoint("anthropic", { tokenUrl: "https://idp.example/token", skewMs: 10 }, {})).toMatchObject({
      tokenUrl: "https://idp.example/token",
      clientId: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
      skewMs: 10,
    });
  });

  it("configures a generic OAuth2 provider from CREDPOOL_<NAME>_* and defaults it to a form body", () => {
    const endpoint = resolveTokenEndpoint("custom:my-idp", undefined, {
      CREDPOOL_MY_IDP_TOKEN_URL: "https://idp.example/oauth/token",
      CREDPOOL_MY_IDP_CLIENT_ID: "abc",
    });
    expect(endpoint).toMatchObject({ adapter: "oauth2", clientId: "abc", bodyStyle: "form" });
    expect(
      resolveTokenEndpoint("custom:my-idp", { tokenUrl: "https://idp.example/t", bodyStyle: "json" }, {}).bodyStyle,
    ).toBe("json");
  });

  it("refuses to refresh a generic provider without a token URL, naming the variable to set", () => {
    expect(() => resolveTokenEndpoint("nous", undefined, {})).toThrow(/CREDPOOL_NOUS_TOKEN_URL/);
    try {
      resolveTokenEndpoint("nous", undefined, {});
    } catch (error) {
      expect(isPoolError(error, "E_REFRESH_FAILED")).toBe(true);
    }
  });

  it("never sends refresh tokens over plain http to a non-loopback host", () => {
    expect(() => resolveTokenEndpoint("anthropic", { tokenUrl: "http://idp.example/token" }, {})).toThrow(/https/);
    expect(() => resolveTokenEndpoint("anthropic", undefined, { CREDPOOL_ANTHROPIC_TOKEN_URL: "ftp://x" })).toThrow(
      /https/,
    );
  });

  it("refreshes ahead of expiry by each adapter's skew", () => {
    const refresher = createRefresher({ env: {}, providers: { "custom:idp": { skewMs: 1000 } } });
    const soon = NOW + 2 * 60_000;
    // Anthropic refreshes 5 minutes ahead, so a token with 2 minutes left is due; a generic one with 1 s skew is not.
    expect(refresher.isDue(oauthCredential("anthropic", soon), NOW)).toBe(true);
    expect(refresher.isDue(oauthCredential("custom:idp", soon), NOW)).toBe(false);
    expect(refresher.isDue(oauthCredential("anthropic", NOW + 60 * 60_000), NOW)).toBe(false);
    // Without expiresAt, the JWT's exp decides.
    const jwt = fakeJwt({ exp: Math.floor((NOW + 60_000) / 1000) });
    expect(refresher.isDue(oauthCredential("openai-codex", undefined, jwt), NOW)).toBe(true);
    const env = createRefresher({ env: { CREDPOOL_ANTHROPIC_REFRESH_SKEW_MS: "0" } });
    expect(env.isDue(oauthCredential("anthropic", soon), NOW)).toBe(false);
  });
});

describe("adapter requests against the fake token server", () => {
  let server: FakeTokenServer;
  beforeEach(async () => {
    server = await startFakeTokenServer({ expiresInSec: 1800 });
  });
  afterEach(async () => server.close());

  it("anthropic sends a JSON refresh_token grant with its client id and stores expiresAt in milliseconds", async () => {
    const tokens = server.issue();
    const endpoint = resolveTokenEndpoint("anthropic", { tokenUrl: server.tokenUrl }, {});
    const result = await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions());
    expect(result.kind).toBe("granted");
    expect(server.calls[0]).toMatchObject({
      bodyStyle: "json",
      grantType: "refresh_token",
      clientId: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
    });
    if (result.kind !== "granted") return;
    expect(result.grant.accessToken).toBe(server.current(tokens.family).accessToken);
    expect(result.grant.refreshToken).toBe(server.current(tokens.family).refreshToken);
    expect(result.grant.expiresAt).toBe(NOW + 1800 * 1000);
  });

  it("openai-codex sends its client id and scope and takes expiry and account from the tokens", async () => {
    const tokens = server.issue({ accountId: "acct-42" });
    const endpoint = resolveTokenEndpoint("openai-codex", { tokenUrl: server.tokenUrl }, {});
    const result = await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions());
    expect(server.calls[0]).toMatchObject({ clientId: "app_EMoamEEZ73f0CkXaXp7hrann", scope: "openid profile email" });
    if (result.kind !== "granted") throw new Error(`expected a grant, got ${result.kind}`);
    expect(result.grant.expiresAt).toBe(server.current(tokens.family).expiresAt);
    expect(result.grant.accountId).toBe("acct-42");
    expect(result.grant.idToken).toBe(server.current(tokens.family).idToken);
  });

  it("generic oauth2 sends a form body by default", async () => {
    const tokens = server.issue();
    const endpoint = resolveTokenEndpoint("custom:idp", { tokenUrl: server.tokenUrl, clientId: "cid" }, {});
    const result = await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions());
    expect(result.kind).toBe("granted");
    expect(server.calls[0]).toMatchObject({ bodyStyle: "form", clientId: "cid", grantType: "refresh_token" });
  });

  it("classifies a reused refresh token as terminal invalid_grant", async () => {
    const tokens = server.issue();
    const endpoint = resolveTokenEndpoint("anthropic", { tokenUrl: server.tokenUrl }, {});
    await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions());
    const replay = await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions());
    expect(replay).toMatchObject({ kind: "terminal", status: 400, reason: "invalid_grant" });
    expect(server.reuses).toHaveLength(1);
  });

  it("classifies 429 with Retry-After and 5xx as retry-later, honouring the header", async () => {
    const tokens = server.issue();
    const endpoint = resolveTokenEndpoint("anthropic", { tokenUrl: server.tokenUrl }, {});
    server.script(
      { type: "status", status: 429, headers: { "retry-after": "30" }, body: { error: "rate_limited" } },
      { type: "status", status: 503 },
    );
    expect(await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions())).toMatchObject({
      kind: "retry_later",
      status: 429,
      reason: "refresh_rate_limited",
      retryAfterMs: 30_000,
    });
    expect(await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions())).toMatchObject({
      kind: "retry_later",
      status: 503,
      reason: "refresh_unavailable",
      retryAfterMs: undefined,
    });
    // Neither answer spent the token.
    expect((await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions())).kind).toBe("granted");
  });

  it("classifies a refusal that is not the token's fault (invalid_client) as rejected, not terminal", async () => {
    const strict = await startFakeTokenServer({ clientId: "expected" });
    try {
      const tokens = strict.issue();
      const endpoint = resolveTokenEndpoint("custom:idp", { tokenUrl: strict.tokenUrl, clientId: "wrong" }, {});
      expect(await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions())).toMatchObject({
        kind: "rejected",
        status: 401,
      });
    } finally {
      await strict.close();
    }
  });

  it("treats a timeout after the provider rotated as an unknown outcome", async () => {
    const tokens = server.issue();
    server.script({ type: "rotate-then-delay", delayMs: 1500 });
    const endpoint = resolveTokenEndpoint("anthropic", { tokenUrl: server.tokenUrl }, {});
    const result = await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions(200));
    expect(result.kind).toBe("unknown");
    expect(server.calls[0]?.outcome).toBe("rotated");
  });

  it("treats a connection dropped after rotation as unknown, and one dropped before processing as unknown too", async () => {
    const tokens = server.issue();
    const endpoint = resolveTokenEndpoint("anthropic", { tokenUrl: server.tokenUrl }, {});
    server.script({ type: "rotate-then-drop" });
    expect((await postRefreshRequest(endpoint, tokens.refreshToken, requestOptions())).kind).toBe("unknown");
  });

  it("treats an unreachable endpoint as retry-later: the request never left this host", async () => {
    const closed = await startFakeTokenServer();
    const url = closed.tokenUrl;
    await closed.close();
    const endpoint = resolveTokenEndpoint("anthropic", { tokenUrl: url }, {});
    expect(await postRefreshRequest(endpoint, "rt-x", requestOptions())).toMatchObject({
      kind: "retry_later",
      reason: "refresh_unavailable",
    });
  });
});

describe("error bodies in provider styles", () => {
  let http: Server;
  let endpoint: TokenEndpoint;
  let reply: { status: number; body: string };
  beforeEach(async () => {
    http = createServer((_req, res) => {
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(reply.body);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const { port } = http.address() as AddressInfo;
    endpoint = resolveTokenEndpoint("openai-codex", { tokenUrl: `http://127.0.0.1:${port}/oauth/token` }, {});
  });
  afterEach(async () => new Promise<void>((resolve) => http.close(() => resolve())));

  it("reads OpenAI's nested error code refresh_token_reused as terminal", async () => {
    reply = {
      status: 401,
      body: JSON.stringify({
        error: {
          message: "Your refresh token has already been used",
          type: "invalid_request_error",
          code: "refresh_token_reused",
        },
      }),
    };
    expect(await postRefreshRequest(endpoint, "rt", requestOptions())).toMatchObject({
      kind: "terminal",
      reason: "refresh_token_reused",
    });
  });

  // Issue 13, 6b: the refresh-token reasons each provider sends. invalid_grant stays terminal on a 400, the status
  // RFC 6749 gives it; invalid_token is about an access token, so at a token endpoint it is not the refresh
  // token's death.
  it.each<[string, number, unknown, { kind: string; reason?: string }]>([
    [
      "OpenAI auth 401 with the nested code refresh_token_expired",
      401,
      {
        error: {
          message: "Your refresh token has expired. Please try signing in again.",
          type: "invalid_request_error",
          code: "refresh_token_expired",
        },
      },
      { kind: "terminal", reason: "refresh_token_expired" },
    ],
    [
      "a 400 with the flat OAuth error invalid_refresh_token",
      400,
      { error: "invalid_refresh_token", error_description: "The refresh token is invalid or expired" },
      { kind: "terminal", reason: "invalid_refresh_token" },
    ],
    [
      "Anthropic's 400 invalid_grant",
      400,
      { error: "invalid_grant", error_description: "Refresh token not found or invalid" },
      { kind: "terminal", reason: "invalid_grant" },
    ],
    [
      "a 401 invalid_token",
      401,
      { error: "invalid_token", error_description: "The access token is invalid" },
      { kind: "rejected" },
    ],
  ])("classifies %s", async (_case, status, body, expected) => {
    reply = { status, body: JSON.stringify(body) };
    expect(await postRefreshRequest(endpoint, "rt", requestOptions())).toMatchObject(expected);
  });

  it("treats a 2xx without an access token as an unknown outcome, never as success", async () => {
    reply = { status: 200, body: JSON.stringify({ token_type: "Bearer" }) };
    expect((await postRefreshRequest(endpoint, "rt", requestOptions())).kind).toBe("unknown");
    reply = { status: 200, body: "<html>" };
    expect((await postRefreshRequest(endpoint, "rt", requestOptions())).kind).toBe("unknown");
  });

  it("keeps secrets out of error messages", async () => {
    reply = {
      status: 400,
      body: JSON.stringify({ error: "invalid_grant", error_description: "token sk-ant-ort01-abcdefghijklmnop is bad" }),
    };
    const result = await postRefreshRequest(endpoint, "rt", requestOptions());
    expect(result).toMatchObject({ kind: "terminal", reason: "invalid_grant" });
    expect(JSON.stringify(result)).not.toContain("abcdefghijklmnop");
  });
});
