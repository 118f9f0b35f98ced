// The gateway's admin login API: start returns the authorize URL and a flow id, complete takes `code#state`. Both
// need a TOTP admin session. A real gateway process against the testkit's fake authorization server.
import { beginTotpSetup, confirmTotpSetup, generateTotpCode, openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, startFakeTokenServer, type FakeTokenServer, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

describe("gateway admin login", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  let fake: FakeTokenServer | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await fake?.close();
    await dir?.remove();
  });

  it("start and complete need a TOTP session; the login lands once, a wrong state stores nothing", async () => {
    fake = await startFakeTokenServer();
    dir = await createTempDir("credpool-gateway-login-");
    const poolPath = dir.file("pool.json");
    await (await openPool({ file: { path: poolPath, createIfMissing: true } })).close();
    const { secret } = await beginTotpSetup({ home: dir.path, label: "test" });
    const codeAt = (offset: number): string =>
      generateTotpCode({ secret, algorithm: "SHA1", timestamp: Date.now() + offset * 30_000 });
    await confirmTotpSetup({ home: dir.path, principal: "test-setup", code: codeAt(-1) });
    const tokens = createTokenStore({ dir: dir.path });
    const operator = await tokens.create("operator", "admin");
    await tokens.close();
    gateway = await startGatewayProcess(poolPath, {
      CREDPOOL_ANTHROPIC_TOKEN_URL: fake.tokenUrl,
      CREDPOOL_ANTHROPIC_AUTHORIZE_URL: fake.authorizeUrl,
      CREDPOOL_ANTHROPIC_REDIRECT_URI: fake.codePageUrl,
    });
    const url = gateway.url;
    const call = async (path: string, body: unknown, session?: string) => {
      const response = await fetch(`${url}${path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${operator.token}`,
          "content-type": "application/json",
          ...(session ? { "x-credpool-session": session } : {}),
        },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    const unauthenticated = await call("/v1/admin/login/start", { provider: "anthropic" });
    expect(unauthenticated.status).toBe(401);
    expect(JSON.stringify(unauthenticated.body)).toContain("E_TOTP_REQUIRED");

    const session = await call("/v1/admin/session", { code: codeAt(0) });
    expect(session.status).toBe(200);
    const sessionToken = String(session.body.sessionToken);

    fake.approveNext({ accountId: "gw-acct", email: "gw@example.test" });
    const started = await call("/v1/admin/login/start", { provider: "anthropic", label: "gw" }, sessionToken);
    expect(started.status).toBe(200);
    const flowId = String(started.body.flowId);
    const authorizeUrl = String(started.body.url);
    expect(new URL(authorizeUrl).searchParams.get("code_challenge_method")).toBe("S256");
    const page = await fake.browse(authorizeUrl);

    expect((await call("/v1/admin/login/complete", { flowId, code: page.text })).status).toBe(401);
    const completed = await call("/v1/admin/login/complete", { flowId, code: page.text }, sessionToken);
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({
      action: "added",
      provider: "anthropic",
      label: "gw",
      email: "gw@example.test",
      accountId: "gw-acct",
    });
    expect(fake.calls.at(-1)).toMatchObject({ grantType: "authorization_code", pkceVerified: true });
    // A flow is single-use.
    expect((await call("/v1/admin/login/complete", { flowId, code: page.text }, sessionToken)).status).toBe(404);

    const second = await call("/v1/admin/login/start", { provider: "anthropic" }, sessionToken);
    const secondPage = await fake.browse(String(second.body.url));
    const forged = await call(
      "/v1/admin/login/complete",
      { flowId: String(second.body.flowId), code: `${secondPage.text.split("#")[0] ?? ""}#forged-state` },
      sessionToken,
    );
    expect(forged.status).toBe(400);
    expect(JSON.stringify(forged.body)).toMatch(/E_LOGIN_FAILED.*state does not match/);

    const pool = await openPool({ file: { path: poolPath } });
    const stored = structuredClone(pool.doc.providers.anthropic?.credentials ?? []);
    await pool.close();
    expect(stored.map((credential) => [credential.label, credential.source])).toEqual([["gw", "login"]]);
    const secrets = [
      ...stored.flatMap((credential) => [credential.secrets.accessToken ?? "", credential.secrets.refreshToken ?? ""]),
      page.text.split("#")[0] ?? "",
      ...fake.calls.map((item) => item.codeVerifier ?? "").filter(Boolean),
    ];
    expect(findSecretLines(gateway.child, secrets)).toEqual([]);
  });
  it("serves leases while a login's token exchange is pending: the flow never blocks the gateway", async () => {
    fake = await startFakeTokenServer();
    dir = await createTempDir("credpool-gateway-login-wait-");
    const poolPath = dir.file("pool.json");
    const seed = await openPool({ file: { path: poolPath, createIfMissing: true } });
    await seed.add({ provider: "openai", label: "key", secrets: { apiKey: "sk-proj-login-wait-0000000000" } });
    await seed.close();
    const { secret } = await beginTotpSetup({ home: dir.path, label: "test" });
    await confirmTotpSetup({
      home: dir.path,
      principal: "test-setup",
      code: generateTotpCode({ secret, algorithm: "SHA1", timestamp: Date.now() - 30_000 }),
    });
    const tokens = createTokenStore({ dir: dir.path });
    const operator = await tokens.create("operator", "admin");
    const worker = await tokens.create("worker", "lease");
    await tokens.close();
    gateway = await startGatewayProcess(poolPath, {
      CREDPOOL_ANTHROPIC_TOKEN_URL: fake.tokenUrl,
      CREDPOOL_ANTHROPIC_AUTHORIZE_URL: fake.authorizeUrl,
      CREDPOOL_ANTHROPIC_REDIRECT_URI: fake.codePageUrl,
    });
    const url = gateway.url;
    const post = (path: string, token: string, body: unknown, session?: string) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          ...(session ? { "x-credpool-session": session } : {}),
        },
        body: JSON.stringify(body),
      });
    const opened = await post("/v1/admin/session", operator.token, {
      code: generateTotpCode({ secret, algorithm: "SHA1", timestamp: Date.now() }),
    });
    const sessionToken = String(((await opened.json()) as { sessionToken: string }).sessionToken);
    fake.approveNext({ accountId: "wait-acct", email: "wait@example.test" });
    const started = (await (
      await post("/v1/admin/login/start", operator.token, { provider: "anthropic" }, sessionToken)
    ).json()) as { flowId: string; url: string };
    const page = await fake.browse(started.url);

    // The token endpoint takes 5 s to answer the code exchange; the gateway waits on it meanwhile.
    fake.setLatency(5_000);
    let completedAt: number | undefined;
    const completing = post(
      "/v1/admin/login/complete",
      operator.token,
      { flowId: started.flowId, code: page.text },
      sessionToken,
    ).then(async (response) => {
      completedAt = Date.now();
      return { status: response.status, body: await response.text() };
    });
    await fake.waitForCalls(1);
    const served: number[] = [];
    for (let index = 0; index < 20; index++) {
      const leased = await post("/v1/leases", worker.token, { provider: "openai" });
      expect(leased.status).toBe(201);
      const { leaseId } = (await leased.json()) as { leaseId: string };
      const released = await post(`/v1/leases/${leaseId}/release`, worker.token, { outcome: "ok" });
      expect(released.status).toBeLessThan(300);
      served.push(Date.now());
    }
    // Every lease came and went while the exchange was still pending; then the login landed.
    expect(completedAt).toBeUndefined();
    const completed = await completing;
    expect(completed.status, completed.body).toBe(200);
    expect(Math.max(...served)).toBeLessThanOrEqual(completedAt ?? 0);
  });
});
