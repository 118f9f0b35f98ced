// What the proxy never does: forward the gateway token, send a request anywhere but the configured upstream, hold
// an unbounded body, or fall over on malformed input.
import { connect } from "node:net";
import { startFakeUpstream, type FakeUpstream } from "@credpool/pool-testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRunning } from "../gateway/gateway-process.js";
import { askAnthropic, askLease, askOpenAi, startProxyWorld, type ProxyWorld } from "./world.js";

const ANTHROPIC_KEY = "sk-ant-api03-FIXTUREsecurityANTHROPIC-0123456789abcdef";
const OPENAI_KEY = "sk-proj-FIXTUREsecurityOPENAI-0123456789abcdefghijkl";
const BODY_LIMIT = 1024 * 1024;

/** Sends `head` (request line and headers, CRLF-separated) as is on a raw socket; resolves with status and body. */
function rawRequest(url: string, head: string, body = ""): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = "";
    socket.on("data", (chunk: Buffer) => (data += chunk.toString("utf8")));
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    });
    // Not end(): a half-closed client looks gone to the server. Connection: close makes the server end it.
    socket.write(`${head}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

function isAnthropicError(text: string): boolean {
  const parsed = JSON.parse(text) as { type?: unknown; error?: { type?: unknown; message?: unknown } };
  return parsed.type === "error" && typeof parsed.error?.type === "string" && typeof parsed.error.message === "string";
}

function isOpenAiError(text: string): boolean {
  const parsed = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } };
  return typeof parsed.error?.type === "string" && typeof parsed.error.message === "string";
}

describe("proxy security", () => {
  let world: ProxyWorld;
  /** A second host a request might be steered to; it must never see a request. */
  let elsewhere: FakeUpstream;
  let host: string;

  beforeAll(async () => {
    elsewhere = await startFakeUpstream();
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai", secrets: { apiKey: OPENAI_KEY } },
      ],
      proxy: { maxBodyBytes: BODY_LIMIT },
    });
    host = new URL(world.gateway.url).host;
  });
  afterAll(async () => {
    await world?.stop();
    await elsewhere?.close();
  });

  it("never forwards the gateway token, cookies, forwarding or Connection-named headers; the credential's key replaces them", async () => {
    const secretPart = world.token.slice(world.token.lastIndexOf("_", 20) + 1);
    // Raw requests: fetch would drop some of these headers (Connection) itself.
    const variants = [
      `x-api-key: ${world.token}`,
      `Authorization: Bearer ${world.token}`,
      `x-api-key: ${world.token}\r\nAuthorization: Bearer ${world.token}\r\nCookie: session=${world.token}`,
      `x-api-key: ${world.token}\r\nConnection: keep-alive, X-Leak\r\nX-Leak: ${world.token}\r\nX-Forwarded-For: 10.0.0.1`,
      `x-api-key: ${world.token}\r\nProxy-Authorization: Basic ${world.token}\r\nx-credpool-session: ${world.token}`,
    ];
    for (const headers of variants) {
      for (const path of ["/anthropic/v1/messages", "/openai/v1/chat/completions"]) {
        const answer = await rawRequest(
          world.gateway.url,
          `POST ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01`,
          JSON.stringify({ model: "fake", messages: [{ role: "user", content: "hi" }] }),
        );
        expect(answer.status, headers).toBe(200);
      }
    }
    expect(world.upstream.requests.length).toBe(variants.length * 2);
    for (const request of world.upstream.requests) {
      const raw = request.rawHeaders.join("\n");
      expect(raw).not.toContain(secretPart);
      for (const name of ["cookie", "x-leak", "x-forwarded-for", "proxy-authorization", "x-credpool-session"]) {
        expect(request.headers[name]).toBeUndefined();
      }
      expect(request.headers.host).toBe(new URL(world.upstream.url).host);
      if (request.path.startsWith("/v1/messages")) expect(request.headers["x-api-key"]).toBe(ANTHROPIC_KEY);
      else expect(request.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    }
  });

  it("refuses path escapes, absolute URLs and Host tricks before anything is sent", async () => {
    const before = world.upstream.requests.length;
    const elsewhereHost = new URL(elsewhere.url).host;
    const targets = [
      "/anthropic/../v1/leases",
      "/anthropic/v1/../../v1/pool",
      "/anthropic/v1/%2e%2e/%2e%2e/v1/pool",
      "/anthropic/v1/%2E%2E%2Fadmin",
      "/anthropic/v1%2F..%2F..%2Fx",
      "/anthropic/v1/..%5c..%5cx",
      "/anthropic/v1/messages/..",
      "/anthropic/v1/./messages",
      `/anthropic//${elsewhereHost}/v1/messages`,
      "/openai/v1/%00/chat",
      "/custom/../openai/v1/models",
      "/custom/UPPER/v1/models",
      `http://${elsewhereHost}/v1/messages`,
      `http://${elsewhereHost}/anthropic/v1/messages`,
      `//${elsewhereHost}/anthropic/v1/messages`,
    ];
    for (const target of targets) {
      const answer = await rawRequest(
        world.gateway.url,
        `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nx-api-key: ${world.token}\r\ncontent-type: application/json`,
        "{}",
      );
      expect(answer.status, target).toBeGreaterThanOrEqual(400);
      expect(answer.status, target).toBeLessThan(500);
    }
    // A Host naming another server changes nothing: the configured upstream gets it, with its own Host.
    const tricked = await rawRequest(
      world.gateway.url,
      `POST /anthropic/v1/messages HTTP/1.1\r\nHost: ${elsewhereHost}\r\nX-Forwarded-Host: ${elsewhereHost}\r\nx-api-key: ${world.token}\r\ncontent-type: application/json`,
      "{}",
    );
    expect(tricked.status).toBe(200);
    expect(elsewhere.requests).toHaveLength(0);
    const sent = world.upstream.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe("/v1/messages");
    expect(sent[0]!.headers.host).toBe(new URL(world.upstream.url).host);
  });

  it("answers 413 in the provider's format to a body over the limit, declared or chunked, and sends nothing", async () => {
    const before = world.upstream.requests.length;
    const big = "x".repeat(BODY_LIMIT + 1);
    const declared = await fetch(`${world.gateway.url}/anthropic/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": world.token, "content-type": "application/json" },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(isAnthropicError(await declared.text())).toBe(true);
    const chunked = await fetch(`${world.gateway.url}/openai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${world.token}`, "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          for (let sent = 0; sent <= BODY_LIMIT; sent += 64 * 1024)
            controller.enqueue(new TextEncoder().encode(big.slice(0, 64 * 1024)));
          controller.close();
        },
      }),
      duplex: "half",
    });
    expect(chunked.status).toBe(413);
    expect(isOpenAiError(await chunked.text())).toBe(true);
    expect(world.upstream.requests.length).toBe(before);
  });

  it("answers 200 malformed requests each with a 4xx in the provider's format, and stays up", async () => {
    const leaseToken = await world.createToken("lease-only", "lease");
    const cases: Array<() => Promise<{ status: number; body: string; format: "anthropic" | "openai" }>> = [];
    for (let index = 0; index < 200; index++) {
      const format = index % 2 === 0 ? "anthropic" : "openai";
      const path = format === "anthropic" ? "/anthropic/v1/messages" : "/openai/v1/chat/completions";
      const auth: Record<string, string> =
        format === "anthropic" ? { "x-api-key": world.token } : { authorization: `Bearer ${world.token}` };
      const kind = index % 5;
      cases.push(async () => {
        if (kind === 4) {
          const target = `${path.slice(0, path.indexOf("/v1"))}/v1/${"%2e%2e/".repeat(1 + (index % 3))}x`;
          const answer = await rawRequest(
            world.gateway.url,
            `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nx-api-key: ${world.token}`,
            "{}",
          );
          return { ...answer, format };
        }
        const headers: Record<string, string> =
          kind === 0
            ? { "x-api-key": `cpg_nosuchtoken_${"a".repeat(30)}${index}` }
            : kind === 1
              ? {}
              : kind === 2
                ? { "x-api-key": leaseToken }
                : auth;
        const body = kind === 3 ? `{"model": "fake", "messages": [${"{".repeat(index % 7)}` : "{}";
        const response = await fetch(`${world.gateway.url}${path}`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body,
        });
        return { status: response.status, body: await response.text(), format };
      });
    }
    const answers = [];
    for (let start = 0; start < cases.length; start += 20)
      answers.push(...(await Promise.all(cases.slice(start, start + 20).map((run) => run()))));
    for (const answer of answers) {
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(
        answer.format === "anthropic" ? isAnthropicError(answer.body) : isOpenAiError(answer.body),
        answer.body,
      ).toBe(true);
    }
    expect(isRunning(world.gateway.child)).toBe(true);
    const healthy = await fetch(`${world.gateway.url}/anthropic/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": world.token, "content-type": "application/json" },
      body: JSON.stringify({ model: "fake", messages: [] }),
    });
    expect(healthy.status).toBe(200);
  });

  it("keeps proxy tokens off the lease API and lease tokens off the proxy", async () => {
    const lease = await askLease(world, world.token);
    expect(lease.status).toBe(403);
    // Used the moment it is created, before the gateway's watcher can have seen the token file change.
    const leaseToken = await world.createToken("lease-worker", "lease");
    const leased = await fetch(`${world.gateway.url}/v1/leases`, {
      method: "POST",
      headers: { authorization: `Bearer ${leaseToken}`, "content-type": "application/json" },
      body: JSON.stringify({ provider: "anthropic" }),
    });
    expect(leased.status).toBe(201);
    const proxied = await fetch(`${world.gateway.url}/anthropic/v1/models`, { headers: { "x-api-key": leaseToken } });
    expect(proxied.status).toBe(403);
    expect(isAnthropicError(await proxied.text())).toBe(true);
  });
});

describe("proxy routes behind requireTotpToServe", () => {
  let world: ProxyWorld;

  beforeAll(async () => {
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai", secrets: { apiKey: OPENAI_KEY } },
      ],
      env: { CREDPOOL_TOTP_REQUIRE_TO_SERVE: "true" },
    });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it("send nothing upstream until an admin has opened a TOTP session, as the lease API", async () => {
    const anthropic = await askAnthropic(world, world.token, { model: "claude-sonnet-4-5" });
    expect(anthropic.status).toBe(401);
    const anthropicText = await anthropic.text();
    expect(isAnthropicError(anthropicText), anthropicText).toBe(true);
    expect(anthropicText).toContain("requireTotpToServe");
    const openai = await askOpenAi(world, world.token, { model: "gpt-5" });
    expect(openai.status).toBe(401);
    const openaiText = await openai.text();
    expect(isOpenAiError(openaiText), openaiText).toBe(true);
    expect(openaiText).toContain("credpool_totp_required");
    const leaser = await world.createToken("leaser", "lease");
    const lease = await askLease(world, leaser);
    expect(lease.status).toBe(401);
    expect(world.upstream.requests).toHaveLength(0);
  });
});
