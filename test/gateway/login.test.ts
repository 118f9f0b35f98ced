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
});
