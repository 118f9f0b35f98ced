// Generated malformed requests against a real server: each gets a 4xx with a JSON error body, and the gateway is
// still up, still serving, and holds no stray lease afterwards.
import { Agent } from "node:http";
import { connect } from "node:net";
import { startGatewayServer, type RunningGateway } from "@credpool/pool-gateway";
import { httpStatusFor } from "../src/http-errors.js";
import type { PoolErrorCode } from "@credpool/pool-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FIXTURE,
  checkLogsAndResponsesAfterAll,
  createGatewayFixture,
  expectJsonError,
  sendHttp,
  type GatewayFixture,
  type RawResponse,
} from "./helpers.js";

checkLogsAndResponsesAfterAll();

interface BadCase {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  /** The status this case must get; any 4xx when omitted. */
  readonly status?: number;
  readonly code?: PoolErrorCode;
}

const JSON_ROUTES_WITH_BODY = (leaseId: string, credentialId: string) => [
  { path: "/v1/leases", admin: false },
  { path: `/v1/leases/${leaseId}/renew`, admin: false },
  { path: `/v1/leases/${leaseId}/release`, admin: false },
  { path: "/v1/admin/credentials", admin: true },
  { path: "/v1/admin/session", admin: true },
  { path: `/v1/admin/credentials/${credentialId}/priority`, admin: true },
  { path: "/v1/admin/providers/openrouter/strategy", admin: true },
];

const INVALID_JSON = [
  "{",
  "}",
  "{provider:'anthropic'}",
  '{"provider": "anthropic",}',
  '{"provider": "anthropic"',
  "[1, 2",
  "nul",
  "tru",
  "'single'",
  '{"a": undefined}',
  '{"provider": "anthropic"}\u0000garbage',
  "NaN",
  '\uFEFF{"provider": "anthropic"} trailing',
];

/** Values that are JSON but never a valid body of any route (wrong top-level type). */
const WRONG_TOP_LEVEL = ["null", "42", '"a string"', "[]", '[{"provider":"anthropic"}]', "true", "-0.5e10"];

function leaseBodies(): { body: unknown; why: string }[] {
  return [
    { body: {}, why: "missing provider" },
    { body: { provider: 1 }, why: "provider is a number" },
    { body: { provider: null }, why: "provider is null" },
    { body: { provider: ["anthropic"] }, why: "provider is an array" },
    { body: { provider: { name: "anthropic" } }, why: "provider is an object" },
    { body: { provider: true }, why: "provider is a boolean" },
    { body: { provider: "" }, why: "provider is empty" },
    { body: { provider: "x".repeat(81) }, why: "provider is too long" },
    { body: { provider: "Anthropic" }, why: "provider has upper case" },
    { body: { provider: "anth ropic" }, why: "provider has a space" },
    { body: { provider: "../etc/passwd" }, why: "provider is a path" },
    { body: { provider: "__proto__" }, why: "provider is __proto__" },
    { body: { provider: "anthropic", model: 5 }, why: "model is a number" },
    { body: { provider: "anthropic", model: "" }, why: "model is empty" },
    { body: { provider: "anthropic", model: "m".repeat(201) }, why: "model is too long" },
    { body: { provider: "anthropic", ttlMs: "1000" }, why: "ttlMs is a string" },
    { body: { provider: "anthropic", ttlMs: -1 }, why: "ttlMs is negative" },
    { body: { provider: "anthropic", ttlMs: 0 }, why: "ttlMs is zero" },
    { body: { provider: "anthropic", ttlMs: 1.5 }, why: "ttlMs is fractional" },
    { body: { provider: "anthropic", ttlMs: 1e12 }, why: "ttlMs is too large" },
    { body: { provider: "anthropic", ttlMs: null }, why: "ttlMs is null" },
    { body: { provider: "anthropic", extra: 1 }, why: "unknown field" },
    { body: { provider: "anthropic", __proto__: { polluted: true }, constructor: 1 }, why: "constructor field" },
    { body: { provider: "anthropic", refreshToken: "x" }, why: "asks for a refresh token" },
    { body: { provider: "anthropic", persist: true }, why: "tries to persist the lease" },
  ];
}

function releaseBodies(): { body: unknown; why: string }[] {
  return [
    { body: {}, why: "missing outcome" },
    { body: { outcome: "maybe" }, why: "unknown outcome" },
    { body: { outcome: 1 }, why: "outcome is a number" },
    { body: { outcome: null }, why: "outcome is null" },
    { body: { outcome: "ok", status: 200 }, why: "ok with a status" },
    { body: { outcome: "error" }, why: "error without a status" },
    { body: { outcome: "error", status: "429" }, why: "status is a string" },
    { body: { outcome: "error", status: 600 }, why: "status too large" },
    { body: { outcome: "error", status: -1 }, why: "status negative" },
    { body: { outcome: "error", status: 429.5 }, why: "status fractional" },
    { body: { outcome: "error", status: 429, headers: "retry-after: 1" }, why: "headers is a string" },
    { body: { outcome: "error", status: 429, headers: { "retry-after": 1 } }, why: "header value is a number" },
    {
      body: { outcome: "error", status: 429, headers: { "retry-after": "x".repeat(5000) } },
      why: "header value too long",
    },
    { body: { outcome: "error", status: 429, headers: [["retry-after", "1"]] }, why: "headers is an array" },
    { body: { outcome: "error", status: 429, message: 42 }, why: "message is a number" },
    { body: { outcome: "error", status: 429, message: "m".repeat(4001) }, why: "message too long" },
    { body: { outcome: "error", status: 429, model: "" }, why: "model is empty" },
    { body: { outcome: "error", status: 429, unexpected: true }, why: "unknown field" },
  ];
}

function adminBodies(credentialId: string): { path: string; body: unknown; why: string }[] {
  const add = "/v1/admin/credentials";
  return [
    { path: add, body: { provider: "openrouter" }, why: "add without secrets" },
    { path: add, body: { provider: "openrouter", secrets: "sk-x" }, why: "secrets is a string" },
    { path: add, body: { provider: "openrouter", secrets: { apiKey: 5 } }, why: "apiKey is a number" },
    { path: add, body: { provider: "openrouter", kind: "password", secrets: { apiKey: "k" } }, why: "unknown kind" },
    { path: add, body: { provider: "openrouter", maxConcurrent: 0, secrets: { apiKey: "k" } }, why: "maxConcurrent 0" },
    { path: add, body: { provider: "openrouter", priority: "high", secrets: { apiKey: "k" } }, why: "priority string" },
    {
      path: add,
      body: { provider: "openrouter", label: "has space", secrets: { apiKey: "k" } },
      why: "label with a space",
    },
    {
      path: add,
      body: { provider: "openrouter", baseUrl: "ftp://example.com", secrets: { apiKey: "k" } },
      why: "ftp base URL",
    },
    {
      path: add,
      body: { provider: "openrouter", kind: "api_key", secrets: { accessToken: "t" } },
      why: "api_key without a key",
    },
    { path: add, body: { provider: "custom:local", secrets: { apiKey: "k" } }, why: "custom provider without baseUrl" },
    { path: add, body: { provider: "openrouter", label: "or-key", secrets: { apiKey: "k" } }, why: "duplicate label" },
    { path: add, body: { provider: "BAD NAME", secrets: { apiKey: "k" } }, why: "bad provider name" },
    { path: add, body: { provider: "openrouter", secrets: { apiKey: "k" }, owner: "me" }, why: "unknown field" },
    { path: `/v1/admin/credentials/${credentialId}/priority`, body: { priority: 1.5 }, why: "fractional priority" },
    { path: `/v1/admin/credentials/${credentialId}/priority`, body: { priority: "1" }, why: "priority string" },
    { path: `/v1/admin/credentials/${credentialId}/priority`, body: {}, why: "missing priority" },
    { path: "/v1/admin/credentials/no-such-credential/priority", body: { priority: 1 }, why: "unknown credential" },
    { path: "/v1/admin/providers/openrouter/strategy", body: { strategy: "fastest" }, why: "unknown strategy" },
    { path: "/v1/admin/providers/openrouter/strategy", body: { strategy: null }, why: "null strategy" },
    { path: "/v1/admin/providers/BAD/strategy", body: { strategy: "random" }, why: "bad provider name" },
    { path: "/v1/admin/providers/openrouter/reset", body: { force: true }, why: "unknown field on reset" },
    { path: "/v1/admin/credentials/no-such-credential/reset", body: {}, why: "reset unknown credential" },
    { path: "/v1/admin/credentials/no-such-credential/reveal", body: {}, why: "reveal unknown credential" },
    { path: "/v1/admin/session", body: { code: 493817 }, why: "code is a number" },
    { path: "/v1/admin/session", body: {}, why: "missing code" },
    { path: "/v1/admin/session", body: { code: "1".repeat(40) }, why: "code too long" },
    { path: "/v1/admin/session", body: { code: FIXTURE.totpCode }, why: "TOTP not configured" },
  ];
}

function generateCases(fixture: GatewayFixture, leaseId: string, credentialId: string): BadCase[] {
  const lease = { authorization: `Bearer ${fixture.leaseToken}`, "content-type": "application/json" };
  const admin = { authorization: `Bearer ${fixture.adminToken}`, "content-type": "application/json" };
  const cases: BadCase[] = [];

  for (const route of JSON_ROUTES_WITH_BODY(leaseId, credentialId)) {
    const headers = route.admin ? admin : lease;
    for (const body of INVALID_JSON) {
      cases.push({
        name: `invalid JSON ${JSON.stringify(body)} to ${route.path}`,
        method: "POST",
        path: route.path,
        headers,
        body,
        status: 400,
        code: "E_INVALID_INPUT",
      });
    }
    for (const body of WRONG_TOP_LEVEL) {
      cases.push({
        name: `top-level ${body} to ${route.path}`,
        method: "POST",
        path: route.path,
        headers,
        body,
        status: 400,
        code: "E_INVALID_INPUT",
      });
    }
  }
  for (const { body, why } of leaseBodies()) {
    cases.push({
      name: `lease: ${why}`,
      method: "POST",
      path: "/v1/leases",
      headers: lease,
      body: JSON.stringify(body),
      status: 400,
      code: "E_INVALID_INPUT",
    });
  }
  for (const { body, why } of releaseBodies()) {
    cases.push({
      name: `release: ${why}`,
      method: "POST",
      path: `/v1/leases/${leaseId}/release`,
      headers: lease,
      body: JSON.stringify(body),
      status: 400,
      code: "E_INVALID_INPUT",
    });
  }
  for (const { body, why } of [
    { body: { ttlMs: "60000" }, why: "ttlMs string" },
    { body: { ttlMs: -5 }, why: "ttlMs negative" },
    { body: { ttlMs: 60_000, leaseId }, why: "unknown field" },
  ]) {
    cases.push({
      name: `renew: ${why}`,
      method: "POST",
      path: `/v1/leases/${leaseId}/renew`,
      headers: lease,
      body: JSON.stringify(body),
      status: 400,
      code: "E_INVALID_INPUT",
    });
  }
  for (const { path, body, why } of adminBodies(credentialId)) {
    cases.push({ name: `admin: ${why}`, method: "POST", path, headers: admin, body: JSON.stringify(body) });
  }

  // Wrong methods on every route.
  const routes: { path: string; allowed: string }[] = [
    { path: "/healthz", allowed: "GET" },
    { path: "/readyz", allowed: "GET" },
    { path: "/metrics", allowed: "GET" },
    { path: "/v1/pool", allowed: "GET" },
    { path: "/v1/pool/anthropic", allowed: "GET" },
    { path: "/v1/leases", allowed: "POST" },
    { path: `/v1/leases/${leaseId}/renew`, allowed: "POST" },
    { path: `/v1/leases/${leaseId}/release`, allowed: "POST" },
    { path: "/v1/admin/session", allowed: "POST" },
    { path: "/v1/admin/credentials", allowed: "POST" },
    { path: "/v1/admin/providers/openrouter/strategy", allowed: "POST" },
  ];
  for (const route of routes) {
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      if (method === route.allowed) continue;
      cases.push({
        name: `${method} ${route.path}`,
        method,
        path: route.path,
        headers: lease,
        status: 405,
        code: "E_METHOD_NOT_ALLOWED",
      });
    }
  }

  // Unknown paths and bad percent-encoding.
  for (const path of [
    "/",
    "/v1",
    "/v1/",
    "/v1/leases/",
    "/v2/leases",
    "/v1/leases/x/y/z",
    "/v1/lease",
    "/HEALTHZ",
    "/v1/pool/anthropic/extra",
    "//v1/leases",
    "/v1/admin",
    "/favicon.ico",
  ]) {
    cases.push({ name: `unknown path ${path}`, method: "GET", path, headers: lease, status: 404, code: "E_NOT_FOUND" });
  }
  for (const path of [
    "/v1/pool/%",
    "/v1/pool/%ZZ",
    "/v1/pool/%E0%A4%A",
    "/v1/leases/%C3%28/renew",
    "/v1/leases/%FF/release",
    "/%",
  ]) {
    const method = path.startsWith("/v1/leases") ? "POST" : "GET";
    cases.push({
      name: `bad percent-encoding ${path}`,
      method,
      path,
      headers: lease,
      body: method === "POST" ? "{}" : undefined,
      status: 400,
      code: "E_INVALID_INPUT",
    });
  }
  // Objects that exist on every JS object must not pass for providers or leases.
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "nosuch"]) {
    cases.push({
      name: `pool status of ${name}`,
      method: "GET",
      path: `/v1/pool/${name}`,
      headers: lease,
      status: 404,
      code: "E_NOT_FOUND",
    });
    cases.push({
      name: `release lease ${name}`,
      method: "POST",
      path: `/v1/leases/${name}/release`,
      headers: lease,
      body: '{"outcome":"ok"}',
      status: 404,
      code: "E_NOT_FOUND",
    });
    cases.push({
      name: `renew lease ${name}`,
      method: "POST",
      path: `/v1/leases/${name}/renew`,
      headers: lease,
      body: "{}",
      status: 404,
      code: "E_NOT_FOUND",
    });
  }

  // Missing, malformed and forged bearer tokens.
  const realId = /^cpg_([a-z0-9]+)_/.exec(fixture.leaseToken)?.[1] ?? "";
  const forged = [
    undefined,
    "",
    "Bearer",
    "Bearer ",
    `Basic ${Buffer.from("user:pass").toString("base64")}`,
    `Token ${fixture.leaseToken}`,
    `Bearer ${fixture.leaseToken} extra`,
    `Bearer ${fixture.leaseToken.slice(0, -1)}`,
    `Bearer ${fixture.leaseToken}x`,
    `Bearer cpg_${realId}_${"A".repeat(32)}`,
    `Bearer cpg_000000000000_${"B".repeat(32)}`,
    "Bearer cpg_short_x",
    `Bearer ${"x".repeat(5000)}`,
    `Bearer ${FIXTURE.anthropicKey}`,
    `Bearer ${FIXTURE.oauthAccess}`,
    "Bearer \u00e9t\u00e9",
  ];
  for (const authorization of forged) {
    for (const [method, path, body] of [
      ["POST", "/v1/leases", '{"provider":"anthropic"}'],
      ["GET", "/v1/pool", undefined],
      ["POST", "/v1/admin/providers/anthropic/reset", "{}"],
    ] as const) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (authorization !== undefined) headers.authorization = authorization;
      cases.push({
        name: `auth ${JSON.stringify(authorization?.slice(0, 40))} on ${path}`,
        method,
        path,
        headers,
        body,
        status: 401,
        code: "E_UNAUTHORIZED",
      });
    }
  }
  // A lease-scoped token on admin routes.
  for (const path of [
    "/v1/admin/credentials",
    "/v1/admin/session",
    "/v1/admin/providers/anthropic/reset",
    `/v1/admin/credentials/${credentialId}/reveal`,
  ]) {
    cases.push({
      name: `lease token on ${path}`,
      method: "POST",
      path,
      headers: lease,
      body: "{}",
      status: 403,
      code: "E_FORBIDDEN",
    });
  }
  cases.push({
    name: "lease token on DELETE credential",
    method: "DELETE",
    path: `/v1/admin/credentials/${credentialId}`,
    headers: lease,
    status: 403,
    code: "E_FORBIDDEN",
  });

  // Bad idempotency keys.
  for (const key of ["", "k".repeat(129), "has space", "tab\tkey"]) {
    cases.push({
      name: `idempotency key ${JSON.stringify(key.slice(0, 20))}`,
      method: "POST",
      path: "/v1/leases",
      headers: { ...lease, "idempotency-key": key },
      body: '{"provider":"anthropic"}',
      status: 400,
      code: "E_INVALID_INPUT",
    });
  }

  // Bodies over the limit, as one buffer and as a stream of chunks.
  for (const size of [64 * 1024 + 1, 200 * 1024, 2 * 1024 * 1024]) {
    const body = JSON.stringify({ provider: "anthropic", model: "m".repeat(size) });
    cases.push({
      name: `body of ${size} bytes`,
      method: "POST",
      path: "/v1/leases",
      headers: lease,
      body,
      status: 413,
      code: "E_TOO_LARGE",
    });
  }
  cases.push({
    name: "huge body of binary junk",
    method: "POST",
    path: "/v1/admin/credentials",
    headers: admin,
    body: Buffer.alloc(300 * 1024, 0xff),
    status: 413,
    code: "E_TOO_LARGE",
  });
  // Binary junk that is small enough to parse.
  cases.push({
    name: "binary junk body",
    method: "POST",
    path: "/v1/leases",
    headers: lease,
    body: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22]),
    status: 400,
    code: "E_INVALID_INPUT",
  });
  return cases;
}

interface RawCase {
  readonly name: string;
  readonly bytes: string;
  readonly status: number;
}

/** Requests Node's HTTP parser itself rejects; the gateway still answers them with its JSON error shape. */
const RAW_CASES: RawCase[] = [
  { name: "garbage request line", bytes: "HELLO\r\n\r\n", status: 400 },
  { name: "bad HTTP version", bytes: "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", status: 400 },
  { name: "space in header name", bytes: "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", status: 400 },
  {
    name: "conflicting lengths",
    bytes: "POST /v1/leases HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
    status: 400,
  },
  {
    name: "bad chunk size",
    bytes: "POST /v1/leases HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    status: 400,
  },
  {
    name: "oversized headers",
    bytes: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20 * 1024)}\r\n\r\n`,
    status: 413,
  },
];

function sendRaw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => resolve(text));
    socket.on("close", () => resolve(text));
    socket.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? resolve(text) : reject(error)));
    socket.write(bytes);
  });
}

describe("malformed requests against a real server", () => {
  let fixture: GatewayFixture;
  let gateway: RunningGateway;
  let leaseId: string;
  let credentialId: string;

  beforeAll(async () => {
    // Throttling failed logins is tested on its own; here every forged token must reach the 401 path.
    fixture = await createGatewayFixture({
      authFailureBurst: 1_000_000,
      authPrefixFailureBurst: 1_000_000,
      rateLimitPerSecond: 100_000,
      rateLimitBurst: 100_000,
    });
    gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    const lease = await fixture.call("POST", "/v1/leases", { body: { provider: "anthropic" } });
    leaseId = (lease.json as { leaseId: string }).leaseId;
    credentialId = fixture.pool.resolve("or-key").id;
  });
  afterAll(async () => {
    await gateway?.close();
    await fixture?.close();
  });

  it("answers every one of 300+ generated bad requests with a 4xx JSON error, then keeps serving", async () => {
    const cases = generateCases(fixture, leaseId, credentialId);
    expect(cases.length).toBeGreaterThanOrEqual(300);
    const port = Number(new URL(gateway.url).port);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const failures: string[] = [];
    const check = (badCase: BadCase, result: RawResponse) => {
      const problems: string[] = [];
      if (result.status < 400 || result.status > 499) problems.push(`status ${result.status}`);
      if (badCase.status !== undefined && result.status !== badCase.status)
        problems.push(`status ${result.status}, wanted ${badCase.status}`);
      if (!String(result.headers["content-type"]).startsWith("application/json"))
        problems.push(`content-type ${result.headers["content-type"]}`);
      let parsed: { error?: { code?: unknown; message?: unknown } } | undefined;
      try {
        parsed = JSON.parse(result.text) as typeof parsed;
      } catch {
        problems.push("body is not JSON");
      }
      const code = parsed?.error?.code;
      if (typeof code !== "string" || typeof parsed?.error?.message !== "string")
        problems.push("no {error:{code,message}}");
      else if (httpStatusFor(code as PoolErrorCode) !== result.status)
        problems.push(`code ${code} does not map to ${result.status}`);
      if (badCase.code !== undefined && code !== badCase.code)
        problems.push(`code ${String(code)}, wanted ${badCase.code}`);
      if (problems.length > 0) failures.push(`${badCase.name}: ${problems.join("; ")} — ${result.text.slice(0, 200)}`);
    };
    // Sixteen at a time, so malformed requests also overlap each other and the server's keep-alive sockets.
    for (let i = 0; i < cases.length; i += 16) {
      const batch = cases.slice(i, i + 16);
      const results = await Promise.all(
        batch.map((badCase) =>
          sendHttp(
            { host: "127.0.0.1", port, agent },
            {
              method: badCase.method,
              path: badCase.path,
              ...(badCase.headers ? { headers: badCase.headers } : {}),
              ...(badCase.body === undefined ? {} : { body: badCase.body }),
            },
          ),
        ),
      );
      batch.forEach((badCase, index) => check(badCase, results[index]!));
    }
    agent.destroy();
    expect(failures).toEqual([]);

    // Still up and serving: health, a full lease cycle, and no lease left behind by any bad request.
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const lease = await fetch(`${gateway.url}/v1/leases`, {
      method: "POST",
      headers: { authorization: `Bearer ${fixture.leaseToken}`, "content-type": "application/json" },
      body: JSON.stringify({ provider: "openrouter" }),
    });
    expect(lease.status).toBe(201);
    const { leaseId: freshId } = (await lease.json()) as { leaseId: string };
    const release = await fetch(`${gateway.url}/v1/leases/${freshId}/release`, {
      method: "POST",
      headers: { authorization: `Bearer ${fixture.leaseToken}` },
      body: JSON.stringify({ outcome: "ok" }),
    });
    expect(release.status).toBe(200);
    // Only the lease taken in beforeAll is held; none of the bad requests leased or added anything.
    expect(fixture.handler.services.leases.size).toBe(1);
    expect(
      fixture.pool
        .list()
        .map((view) => view.credential.label)
        .sort(),
    ).toEqual(["capped-key", "claude-key", "codex-account", "needs-refresh", "or-key"]);
    expect(fixture.pool.list().every((view) => view.available || view.unavailable?.kind === "no_secret")).toBe(true);
  });

  it("answers requests the HTTP parser rejects with a JSON error and keeps serving", async () => {
    const port = Number(new URL(gateway.url).port);
    for (const raw of RAW_CASES) {
      const reply = await sendRaw(port, raw.bytes);
      const [head = "", body = ""] = reply.split("\r\n\r\n");
      expect(head, raw.name).toMatch(new RegExp(`^HTTP/1\\.1 ${raw.status} `));
      expect(head.toLowerCase(), raw.name).toContain("content-type: application/json");
      expectJsonError({ status: raw.status, text: body });
    }
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
  });
});
