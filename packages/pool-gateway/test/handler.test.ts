// Every route through createGatewayHandler with plain request objects (no socket), then the same handler behind
// startGatewayServer on a real port and on a unix socket.
import { stat } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { PoolError } from "@credpool/pool-core";
import {
  createGatewayClient,
  createGatewayHandler,
  startGatewayServer,
  type AdminGate,
  type GatewayHandler,
  type GatewayRequest,
} from "@credpool/pool-gateway";
import { describe, expect, it } from "vitest";
import {
  FIXTURE,
  checkLogsAndResponsesAfterAll,
  expectJsonError,
  rememberSecret,
  useGatewayFixture,
  type ErrorJson,
  type GatewayFixture,
  type LeaseJson,
} from "./helpers.js";

interface PoolJson {
  rev: number;
  providers: Record<string, { strategy: string; credentials: Record<string, unknown>[] }>;
}

checkLogsAndResponsesAfterAll();

/** A stand-in for the TOTP gate (the real one lives in pool-core's auth/): one valid code, one session token. */
function createFakeGate(): AdminGate & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    isConfigured: () => Promise.resolve(true),
    openSession(principal, code) {
      if (code !== FIXTURE.totpCode) return Promise.reject(new PoolError("E_TOTP_INVALID", "That code is not valid."));
      opened.push(principal);
      return Promise.resolve({ sessionToken: FIXTURE.sessionToken, expiresAt: Date.now() + 60_000 });
    },
    checkSession: (token) => token === FIXTURE.sessionToken,
  };
}

async function leaseOf(fixture: GatewayFixture, provider: string, token?: string) {
  const result = await fixture.call<LeaseJson>("POST", "/v1/leases", {
    body: { provider },
    ...(token ? { token } : {}),
  });
  expect(result.status, result.text).toBe(201);
  return result.json;
}

describe("createGatewayHandler, called with plain request objects", () => {
  const open = useGatewayFixture();

  it("answers /healthz and /readyz without a token, and the pool's rev only to a token holder", async () => {
    const fixture = await open();
    const health = await fixture.call("GET", "/healthz", { token: null });
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ ok: true });
    expect(health.headers["x-request-id"]).toMatch(/^[0-9a-f]{16}$/);
    const ready = await fixture.call("GET", "/readyz", { token: null });
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ ready: true });
    const detailed = await fixture.call("GET", "/readyz");
    expect(detailed.json).toEqual({ ready: true, rev: fixture.pool.doc.rev });
    // A bad token on a public route is no failed login: still the short answer.
    expect((await fixture.call("GET", "/readyz", { token: `${fixture.leaseToken}x` })).json).toEqual({ ready: true });
  });

  it("reports not ready once the pool file is corrupt: a reason code without a token, the message with one", async () => {
    const fixture = await open();
    const { writeFile } = await import("node:fs/promises");
    await writeFile(fixture.dir.file("pool.json"), "{ truncated");
    const ready = await fixture.call("GET", "/readyz", { token: null });
    expect(ready.status).toBe(503);
    expect(ready.json).toEqual({ ready: false, reason: "E_POOL_CORRUPT" });
    expect(ready.text).not.toContain(fixture.dir.path);
    const detailed = await fixture.call("GET", "/readyz");
    expect(detailed.status).toBe(503);
    expectJsonError(detailed, "E_POOL_CORRUPT");
    expect(detailed.text).toContain(fixture.dir.file("pool.json"));
  });

  it("serves Prometheus metrics to a token holder and refuses them without one", async () => {
    const fixture = await open();
    await leaseOf(fixture, "anthropic");
    expectJsonError(await fixture.call("GET", "/metrics", { token: null }), "E_UNAUTHORIZED");
    const metrics = await fixture.call("GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    expect(metrics.text).toContain('credpool_leases_total{provider="anthropic",outcome="granted"} 1');
    expect(metrics.text).toContain('credpool_credentials{provider="anthropic",state="ok"} 1');
    expect(metrics.text).toMatch(/credpool_http_request_duration_seconds_count\{route="lease",status="201"\} 1/);
    expect(metrics.text).toContain("credpool_store_commit_duration_seconds");
  });

  it("leases an API key with every documented field, renews it, and releases it once", async () => {
    const fixture = await open();
    const created = await fixture.call("POST", "/v1/leases", { body: { provider: "anthropic", ttlMs: 60_000 } });
    expect(created.status).toBe(201);
    expect(Object.keys(created.json).sort()).toEqual(
      [
        "baseUrl",
        "credentialId",
        "expiresAt",
        "label",
        "leaseExpiresAt",
        "leaseId",
        "provider",
        "token",
        "tokenType",
      ].sort(),
    );
    expect(created.json).toMatchObject({
      provider: "anthropic",
      label: "claude-key",
      baseUrl: "https://api.anthropic.com",
      token: FIXTURE.anthropicKey,
      tokenType: "api_key",
      expiresAt: null,
    });
    const { leaseId, leaseExpiresAt } = created.json as { leaseId: string; leaseExpiresAt: number };

    const renewed = await fixture.call("POST", `/v1/leases/${leaseId}/renew`, { body: { ttlMs: 3_600_000 } });
    expect(renewed.status).toBe(200);
    expect(renewed.json.leaseId).toBe(leaseId);
    expect(renewed.json.leaseExpiresAt).toBeGreaterThan(leaseExpiresAt);

    const released = await fixture.call("POST", `/v1/leases/${leaseId}/release`, { body: { outcome: "ok" } });
    expect(released.status).toBe(200);
    expect(released.json).toEqual({ released: true });
    expect(fixture.handler.services.leases.size).toBe(0);
    expectJsonError(
      await fixture.call("POST", `/v1/leases/${leaseId}/release`, { body: { outcome: "ok" } }),
      "E_NOT_FOUND",
    );
    expectJsonError(await fixture.call("POST", `/v1/leases/${leaseId}/renew`, { body: {} }), "E_NOT_FOUND");

    await fixture.pool.flush();
    const usage = fixture.pool.resolve("claude-key").usage;
    expect(usage.requests).toBe(1);
  });

  it("lets only the owning client (or an admin) renew or release a lease", async () => {
    const fixture = await open();
    const { leaseId } = await leaseOf(fixture, "openrouter");
    const foreign = await fixture.call("POST", `/v1/leases/${leaseId}/release`, {
      token: fixture.otherLeaseToken,
      body: { outcome: "ok" },
    });
    expect(foreign.status).toBe(404);
    expect((await fixture.call("POST", `/v1/leases/${leaseId}/renew`, { token: fixture.otherLeaseToken })).status).toBe(
      404,
    );
    const byAdmin = await fixture.call("POST", `/v1/leases/${leaseId}/release`, {
      token: fixture.adminToken,
      body: { outcome: "ok" },
    });
    expect(byAdmin.status).toBe(200);
  });

  it("benches a credential released with a 429 and answers the next lease 503 with Retry-After", async () => {
    const fixture = await open();
    const { leaseId } = await leaseOf(fixture, "anthropic");
    const released = await fixture.call("POST", `/v1/leases/${leaseId}/release`, {
      body: { outcome: "error", status: 429, headers: { "retry-after": "120" }, message: "rate limited" },
    });
    expect(released.status).toBe(200);
    const view = fixture.pool.list("anthropic")[0];
    expect(view?.unavailable).toMatchObject({ kind: "exhausted", reason: "rate_limit" });
    const denied = await fixture.call<ErrorJson>("POST", "/v1/leases", { body: { provider: "anthropic" } });
    expect(denied.status).toBe(503);
    expectJsonError(denied, "E_NO_CREDENTIAL");
    expect(Number(denied.headers["retry-after"])).toBeGreaterThanOrEqual(115);
    expect(denied.json.error.retryAfterMs).toBeGreaterThan(100_000);
  });

  it("never exceeds maxConcurrent on a capped credential and frees the slot on release", async () => {
    const fixture = await open();
    const first = await leaseOf(fixture, "capped");
    await leaseOf(fixture, "capped");
    const third = await fixture.call("POST", "/v1/leases", { body: { provider: "capped" } });
    expect(third.status).toBe(503);
    expectJsonError(third, "E_NO_CREDENTIAL");
    expect(fixture.pool.resolve("capped-key").leases).toHaveLength(2);
    await fixture.call("POST", `/v1/leases/${first.leaseId}/release`, { body: { outcome: "ok" } });
    await leaseOf(fixture, "capped");
  });

  it("shows the pool with secrets masked, for all providers and for one", async () => {
    const fixture = await open();
    const all = await fixture.call<PoolJson>("GET", "/v1/pool");
    expect(all.status).toBe(200);
    expect(Object.keys(all.json.providers).sort()).toEqual([
      "anthropic",
      "capped",
      "custom:idp",
      "openai-codex",
      "openrouter",
    ]);
    expect(all.json.providers.anthropic?.credentials[0]).toMatchObject({
      label: "claude-key",
      secret: "sk-ant-api03-…CDEF",
    });
    for (const secret of Object.values(FIXTURE)) expect(all.text).not.toContain(secret);
    const one = await fixture.call<PoolJson>("GET", "/v1/pool/capped");
    expect(one.status).toBe(200);
    expect(Object.keys(one.json.providers)).toEqual(["capped"]);
    expect(one.json.providers.capped?.credentials[0]).toMatchObject({ maxConcurrent: 2, activeLeases: 0 });
    expectJsonError(await fixture.call("GET", "/v1/pool/mistral"), "E_NOT_FOUND");
  });

  it("answers 404 for an unknown path and 405 for a known path with the wrong method", async () => {
    const fixture = await open();
    const missing = await fixture.call("GET", "/v2/leases");
    expect(missing.status).toBe(404);
    expectJsonError(missing, "E_NOT_FOUND");
    const wrongMethod = await fixture.call("GET", "/v1/leases");
    expect(wrongMethod.status).toBe(405);
    expectJsonError(wrongMethod, "E_METHOD_NOT_ALLOWED");
  });

  it("judges a repeated body text by each route's own schema, and never remembers a refused one", async () => {
    const fixture = await open();
    const { leaseId } = await leaseOf(fixture, "anthropic");
    // `{}` is a valid renew body; the same text remembered for renew must not pass as a lease body.
    for (let i = 0; i < 2; i++) {
      expect((await fixture.call("POST", `/v1/leases/${leaseId}/renew`, { rawBody: "{}" })).status).toBe(200);
      const lease = await fixture.call("POST", "/v1/leases", { rawBody: "{}" });
      expect(lease.status).toBe(400);
      expect(lease.text).toContain("provider");
    }
    const repeated = '{"provider":"openrouter","model":"gpt-5"}';
    const first = await fixture.call<LeaseJson>("POST", "/v1/leases", { rawBody: repeated });
    const second = await fixture.call<LeaseJson>("POST", "/v1/leases", { rawBody: repeated });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.json.leaseId).not.toBe(first.json.leaseId);
    expect(second.json.provider).toBe("openrouter");
    // An invalid body stays invalid however often it is sent.
    for (let i = 0; i < 3; i++) {
      expectJsonError(await fixture.call("POST", "/v1/leases", { rawBody: '{"provider":""}' }), "E_INVALID_INPUT");
    }
    const release = '{"outcome":"error","status":429,"headers":{"retry-after":"30"},"model":"gpt-5"}';
    for (const { leaseId: id } of [first.json, second.json]) {
      expect((await fixture.call("POST", `/v1/leases/${id}/release`, { rawBody: release })).status).toBe(200);
    }
    // Both reports reached the pool with their headers: the model is benched for the 30 s the header gave.
    const credential = fixture.pool.list("openrouter")[0]?.credential;
    const cooldown = credential?.modelCooldowns?.find((status) => status.model === "gpt-5");
    expect(cooldown?.until).toBeGreaterThan(Date.now() + 20_000);
    expect(credential?.usage.failures).toBe(2);
  });
});

describe("admin routes without TOTP configured", () => {
  const open = useGatewayFixture();

  it("refuses a lease-scoped token with 403", async () => {
    const fixture = await open();
    const result = await fixture.call("POST", "/v1/admin/providers/anthropic/reset", { body: {} });
    expect(result.status).toBe(403);
    expectJsonError(result, "E_FORBIDDEN");
  });

  it("adds, re-prioritises, resets, reveals and removes credentials, and sets a strategy", async () => {
    const fixture = await open();
    const admin = { token: fixture.adminToken };
    const added = await fixture.call("POST", "/v1/admin/credentials", {
      ...admin,
      body: { provider: "openrouter", label: "or-second", priority: 5, secrets: { apiKey: FIXTURE.addedKey } },
    });
    expect(added.status, added.text).toBe(200);
    expect(added.json).toMatchObject({ label: "or-second", provider: "openrouter" });
    expect(added.text).not.toContain(FIXTURE.addedKey);
    const id = (added.json as { id: string }).id;

    const priority = await fixture.call("POST", `/v1/admin/credentials/${id}/priority`, {
      ...admin,
      body: { priority: -1 },
    });
    expect(priority.json).toEqual({ id, priority: -1 });
    expect(fixture.pool.resolve(id).priority).toBe(-1);

    const strategy = await fixture.call("POST", "/v1/admin/providers/openrouter/strategy", {
      ...admin,
      body: { strategy: "round_robin" },
    });
    expect(strategy.status).toBe(200);
    expect(fixture.pool.doc.providers.openrouter?.strategy).toBe("round_robin");

    // Bench it, then reset the one credential and then the whole provider.
    const { leaseId } = (await fixture.call("POST", "/v1/leases", { body: { provider: "openrouter" } })).json as {
      leaseId: string;
    };
    await fixture.call("POST", `/v1/leases/${leaseId}/release`, { body: { outcome: "error", status: 401 } });
    expect(fixture.pool.list("openrouter").some((view) => !view.available)).toBe(true);
    const resetOne = await fixture.call("POST", `/v1/admin/credentials/openrouter%232/reset`, { ...admin, body: {} });
    expect(resetOne.status, resetOne.text).toBe(200);
    const resetAll = await fixture.call("POST", "/v1/admin/providers/openrouter/reset", { ...admin });
    expect(resetAll.status).toBe(200);
    expect((resetAll.json as { reset: string[] }).reset).toHaveLength(2);
    expect(fixture.pool.list("openrouter").every((view) => view.available)).toBe(true);

    const reveal = await fixture.call("POST", `/v1/admin/credentials/${id}/reveal`, { ...admin });
    expect(reveal.status).toBe(200);
    expect(reveal.json).toMatchObject({ id, label: "or-second", apiKey: FIXTURE.addedKey });

    const removed = await fixture.call("DELETE", `/v1/admin/credentials/${id}`, { ...admin });
    expect(removed.json).toEqual({ removed: id });
    expect(fixture.pool.list("openrouter")).toHaveLength(1);
    expectJsonError(await fixture.call("DELETE", `/v1/admin/credentials/${id}`, { ...admin }), "E_NOT_FOUND");
  });

  it("reveals an OAuth credential's access token but never its refresh token", async () => {
    const fixture = await open();
    const reveal = await fixture.call("POST", "/v1/admin/credentials/codex-account/reveal", {
      token: fixture.adminToken,
    });
    expect(reveal.status).toBe(200);
    expect(reveal.json.accessToken).toBe(FIXTURE.oauthAccess);
    expect(reveal.text).not.toContain(FIXTURE.oauthRefresh);
  });

  it("answers POST /v1/admin/session with 409 E_TOTP_NOT_CONFIGURED", async () => {
    const fixture = await open();
    const session = await fixture.call("POST", "/v1/admin/session", {
      token: fixture.adminToken,
      body: { code: FIXTURE.totpCode },
    });
    expect(session.status).toBe(409);
    expectJsonError(session, "E_TOTP_NOT_CONFIGURED");
  });
});

describe("admin routes with an AdminGate configured", () => {
  const gate = createFakeGate();
  const open = useGatewayFixture({ gate });

  it("requires a session for every admin action and opens one only for a valid code", async () => {
    const fixture = await open();
    const admin = { token: fixture.adminToken };
    const without = await fixture.call("POST", "/v1/admin/providers/anthropic/reset", admin);
    expect(without.status).toBe(401);
    expectJsonError(without, "E_TOTP_REQUIRED");
    const forged = await fixture.call("POST", "/v1/admin/providers/anthropic/reset", {
      ...admin,
      headers: { "x-credpool-session": "sess_forged" },
    });
    expect(forged.status).toBe(401);

    const bad = await fixture.call("POST", "/v1/admin/session", { ...admin, body: { code: FIXTURE.badTotpCode } });
    expect(bad.status).toBe(401);
    expectJsonError(bad, "E_TOTP_INVALID");
    const good = await fixture.call("POST", "/v1/admin/session", { ...admin, body: { code: FIXTURE.totpCode } });
    expect(good.status).toBe(200);
    expect(good.json.sessionToken).toBe(FIXTURE.sessionToken);
    expect(gate.opened).toEqual(["gateway:operator"]);

    const withSession = await fixture.call("POST", "/v1/admin/providers/anthropic/reset", {
      ...admin,
      headers: { "x-credpool-session": FIXTURE.sessionToken },
    });
    expect(withSession.status).toBe(200);
    const metrics = await fixture.call("GET", "/metrics");
    expect(metrics.text).toContain("credpool_totp_failures_total 1");
  });
});

describe("requireTotpToServe", () => {
  const open = useGatewayFixture({ gate: createFakeGate(), requireTotpToServe: true });

  it("serves no lease until an admin has opened a TOTP session", async () => {
    const fixture = await open();
    const before = await fixture.call("POST", "/v1/leases", { body: { provider: "anthropic" } });
    expect(before.status).toBe(401);
    expectJsonError(before, "E_TOTP_REQUIRED");
    await fixture.call("POST", "/v1/admin/session", { token: fixture.adminToken, body: { code: FIXTURE.totpCode } });
    await leaseOf(fixture, "anthropic");
  });
});

describe("startGatewayServer", () => {
  const open = useGatewayFixture();

  it("serves the handler on an ephemeral loopback port to the typed client and to plain HTTP", async () => {
    const fixture = await open();
    const gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    try {
      expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${gateway.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true });
      const client = createGatewayClient({ url: gateway.url, token: fixture.leaseToken });
      const lease = await client.lease("openrouter", { ttlMs: 30_000 });
      expect(lease.token).toBe(FIXTURE.openrouterKey);
      const renewed = await client.renew(lease.leaseId, 60_000);
      expect(renewed.leaseExpiresAt).toBeGreaterThanOrEqual(lease.leaseExpiresAt);
      await client.release(lease.leaseId);
      expect(fixture.handler.services.leases.size).toBe(0);
      await expect(client.release(lease.leaseId)).rejects.toMatchObject({ code: "E_NOT_FOUND" });
      const pool = await fetch(`${gateway.url}/v1/pool/openrouter`, {
        headers: { authorization: `Bearer ${fixture.leaseToken}` },
      });
      expect(pool.status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it("answers 500 when an answer cannot be written, and goes on serving", async () => {
    const fixture = await open();
    const broken: GatewayHandler = Object.assign(
      (request: GatewayRequest) =>
        request.url === "/broken"
          ? Promise.resolve({ status: 200, headers: { "x-broken": "line\nbreak" }, body: "{}" })
          : fixture.handler(request),
      {
        services: fixture.handler.services,
        authThrottle: fixture.handler.authThrottle,
        inFlight: 0,
        close: () => fixture.handler.close(),
      },
    );
    const gateway = await startGatewayServer({ handler: broken, port: 0 });
    try {
      const failed = await fetch(`${gateway.url}/broken`);
      expect(failed.status).toBe(500);
      expect(await failed.json()).toEqual({ error: { code: "E_INTERNAL", message: "Internal error." } });
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it("listens on a unix socket created with mode 0600", async () => {
    const fixture = await open();
    const socketPath = fixture.dir.file("gateway.sock");
    const gateway = await startGatewayServer({ handler: fixture.handler, socketPath });
    try {
      expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ socketPath, path: "/healthz" }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve(text));
        });
        req.on("error", reject);
        req.end();
      });
      expect(JSON.parse(body)).toEqual({ ok: true });
    } finally {
      await gateway.close();
    }
  });

  it("refuses a non-loopback address without --allow-remote and TLS", async () => {
    const fixture = await open();
    await expect(startGatewayServer({ handler: fixture.handler, host: "0.0.0.0", port: 0 })).rejects.toMatchObject({
      code: "E_INVALID_OPTIONS",
    });
    await expect(
      startGatewayServer({ handler: fixture.handler, host: "0.0.0.0", port: 0, allowRemote: true }),
    ).rejects.toMatchObject({ code: "E_INVALID_OPTIONS" });
  });

  it("refuses a misspelt server or handler option, naming it and the option meant, before listening", async () => {
    const fixture = await open();
    let started: Awaited<ReturnType<typeof startGatewayServer>> | undefined;
    const server = await startGatewayServer({ handler: fixture.handler, port: 0, hots: "0.0.0.0" } as never).then(
      (gateway) => {
        started = gateway;
        return undefined;
      },
      (error: unknown) => error,
    );
    await started?.close();
    expect(server).toMatchObject({
      code: "E_INVALID_OPTIONS",
      message: "Invalid gateway server options: unknown option `hots`; did you mean `host`?",
    });
    expect(() =>
      createGatewayHandler(fixture.pool, { verifyToken: () => undefined, metricPublic: true } as never),
    ).toThrow(
      expect.objectContaining({
        code: "E_INVALID_OPTIONS",
        message: "Invalid gateway options: unknown option `metricPublic`; did you mean `metricsPublic`?",
      }),
    );
  });
});

// Keep the helper's secret list complete even when a test above adds credentials of its own.
rememberSecret(FIXTURE.addedKey);
