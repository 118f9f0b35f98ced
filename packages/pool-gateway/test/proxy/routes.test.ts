// Which paths the proxy forwards, where to, and what it refuses before anything is sent.
import { describe, expect, it } from "vitest";
import { DEFAULT_UPSTREAMS, resolveProxyTarget, upstreamAddress } from "../../src/proxy/routes.js";
import { buildClientHeaders, buildUpstreamHeaders, mergeBetaFlag } from "../../src/proxy/headers.js";

describe("resolveProxyTarget", () => {
  it.each([
    ["/anthropic/v1/messages?beta=true", "anthropic", "/v1/messages", "?beta=true"],
    ["/anthropic/v1/messages/count_tokens", "anthropic", "/v1/messages/count_tokens", ""],
    ["/openai/v1/chat/completions", "openai", "/v1/chat/completions", ""],
    ["/openai-codex/responses", "openai-codex", "/responses", ""],
    ["/openai-codex/responses?x=1", "openai-codex", "/responses", "?x=1"],
    ["/openrouter/v1/chat/completions", "openrouter", "/v1/chat/completions", ""],
    ["/custom/local-llm/v1/models?limit=5", "custom:local-llm", "/v1/models", "?limit=5"],
    ["/anthropic/v1/models/claude%20x", "anthropic", "/v1/models/claude%20x", ""],
  ])("routes %s to %s, path and query unchanged", (url, provider, path, query) => {
    expect(resolveProxyTarget(url)).toMatchObject({ ok: true, route: { provider }, path, query });
  });

  it.each([
    "/anthropic/../v1/leases",
    "/anthropic/v1/%2e%2e/pool",
    "/anthropic/v1/%2E%2e/pool",
    "/anthropic/v1%2fmessages",
    "/anthropic/v1%5cmessages",
    "/anthropic/v1\\..\\x",
    "/anthropic//evil.example/v1",
    "/anthropic/v1/./messages",
    "/anthropic/v1/messages/..",
    "/anthropic/v1/%zz",
    "/anthropic/v1/%00",
    "/anthropic/",
    "/anthropic",
    "/custom/Bad_Name/v1/models",
    "/custom/../v1/models",
    "/openai-codex/../responses",
    "/openai-codex/",
  ])("refuses %s", (url) => {
    expect(resolveProxyTarget(url)).toMatchObject({ ok: false });
  });

  it("leaves the gateway's own routes and look-alike prefixes alone", () => {
    expect(resolveProxyTarget("/v1/leases")).toBeUndefined();
    expect(resolveProxyTarget("/anthropicx/v1/messages")).toBeUndefined();
    expect(resolveProxyTarget("/openai-codexx/responses")).toBeUndefined();
    expect(resolveProxyTarget("/openai-x/v1/models")).toBeUndefined();
    expect(resolveProxyTarget("http://evil.example/anthropic/v1/messages")).toBeUndefined();
  });
});

describe("upstreamAddress", () => {
  it.each([
    ["https://api.anthropic.com", "/v1/messages", "?beta=true", "https://api.anthropic.com", "/v1/messages?beta=true"],
    ["https://api.openai.com/v1", "/v1/chat/completions", "", "https://api.openai.com", "/v1/chat/completions"],
    ["https://openrouter.ai/api/v1/", "/v1/models", "", "https://openrouter.ai", "/api/v1/models"],
    ["https://openrouter.ai/api", "/v1/models", "", "https://openrouter.ai", "/api/v1/models"],
    ["http://127.0.0.1:8080/v1", "/health", "", "http://127.0.0.1:8080", "/v1/health"],
    ["https://chatgpt.com/backend-api/codex", "/responses", "", "https://chatgpt.com", "/backend-api/codex/responses"],
  ])("joins %s and %s without doubling /v1", (base, path, query, origin, joined) => {
    expect(upstreamAddress(base, path, query)).toEqual({ origin, path: joined });
  });

  it("sends the Codex route to the Codex backend by default", () => {
    const target = resolveProxyTarget("/openai-codex/responses");
    if (!target?.ok) throw new Error("the codex route did not resolve");
    const base = DEFAULT_UPSTREAMS[target.route.provider];
    expect(base).toBe("https://chatgpt.com/backend-api/codex");
    expect(upstreamAddress(base!, target.path, target.query)).toEqual({
      origin: "https://chatgpt.com",
      path: "/backend-api/codex/responses",
    });
  });
});

describe("proxy headers", () => {
  const incoming = {
    host: "127.0.0.1:7878",
    "x-api-key": "cpg_client_token",
    authorization: "Bearer cpg_client_token",
    cookie: "a=b",
    connection: "keep-alive, x-hop",
    "x-hop": "1",
    te: "trailers",
    "transfer-encoding": "chunked",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "prompt-caching-2024-07-31",
    "x-credpool-session": "s1",
    forwarded: "for=10.0.0.1",
    "x-forwarded-for": "10.0.0.1",
    "x-forwarded-port": "443",
    "x-forwarded-prefix": "/internal",
    "x-real-ip": "10.0.0.1",
  };

  it("sends an Anthropic API key as x-api-key and nothing of the client's auth, cookies or hop-by-hop headers", () => {
    const headers = buildUpstreamHeaders(
      incoming,
      { provider: "anthropic", format: "anthropic", token: "sk-ant-key", tokenType: "api_key" },
      2,
    );
    expect(headers).toEqual({
      "x-api-key": "sk-ant-key",
      "anthropic-version": "2023-06-01",
      "anthropic-beta": "prompt-caching-2024-07-31",
      "accept-encoding": "identity",
      "content-length": "2",
    });
  });

  it("sends a Claude OAuth token as Bearer with the OAuth beta merged into the client's", () => {
    const headers = buildUpstreamHeaders(
      incoming,
      { provider: "anthropic", format: "anthropic", token: "sk-ant-oat", tokenType: "bearer" },
      0,
    );
    expect(headers.authorization).toBe("Bearer sk-ant-oat");
    expect(headers["x-api-key"]).toBeUndefined();
    expect(headers["anthropic-beta"]).toBe("prompt-caching-2024-07-31,oauth-2025-04-20");
    expect(mergeBetaFlag("oauth-2025-04-20, a", "oauth-2025-04-20")).toBe("oauth-2025-04-20,a");
  });

  it("sends an OpenAI-compatible key as Bearer", () => {
    const headers = buildUpstreamHeaders(
      incoming,
      { provider: "openai", format: "openai", token: "sk-proj", tokenType: "api_key" },
      0,
    );
    expect(headers.authorization).toBe("Bearer sk-proj");
    expect(headers["x-api-key"]).toBeUndefined();
  });

  it("sends a Codex token as Bearer with the credential's ChatGPT account id, never the client's", () => {
    const headers = buildUpstreamHeaders(
      { ...incoming, "chatgpt-account-id": "acct-of-the-client" },
      { provider: "openai-codex", format: "openai", token: "codex-access", tokenType: "bearer", accountId: "acct-1" },
      0,
    );
    expect(headers.authorization).toBe("Bearer codex-access");
    expect(headers["chatgpt-account-id"]).toBe("acct-1");
    expect(headers["x-api-key"]).toBeUndefined();
    expect(headers["x-credpool-session"]).toBeUndefined();
    const without = buildUpstreamHeaders(
      { ...incoming, "chatgpt-account-id": "acct-of-the-client" },
      { provider: "openai-codex", format: "openai", token: "codex-access", tokenType: "bearer" },
      0,
    );
    expect(without["chatgpt-account-id"]).toBeUndefined();
  });

  it("passes no hop-by-hop header or cookie back to the client", () => {
    expect(
      buildClientHeaders({
        "content-type": "text/event-stream",
        connection: "close, x-up",
        "x-up": "1",
        "set-cookie": ["a=b"],
        "transfer-encoding": "chunked",
        "retry-after": "3",
      }),
    ).toEqual({ "content-type": "text/event-stream", "retry-after": "3" });
  });
});
