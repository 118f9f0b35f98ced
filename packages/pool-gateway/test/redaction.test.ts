// Redaction: drive every path that touches a secret (admin add and reveal, TOTP codes, forged bearer tokens that
// are real keys, failed releases quoting a key, pool events) and prove no fixture secret reaches a log line.
// Every other gateway test file runs the same check over its own logs (see helpers.ts).
import { PoolError } from "@credpool/pool-core";
import { createGatewayClient, startGatewayServer, type AdminGate } from "@credpool/pool-gateway";
import { REDACTED_PATHS, createGatewayLogger } from "../src/logger.js";
import { describe, expect, it } from "vitest";
import {
  FIXTURE,
  allLogLines,
  checkLogsAndResponsesAfterAll,
  createCapturingLogger,
  findLeaks,
  useGatewayFixture,
} from "./helpers.js";

checkLogsAndResponsesAfterAll();

const gate: AdminGate = {
  isConfigured: () => Promise.resolve(true),
  openSession: (_principal, code) =>
    code === FIXTURE.totpCode
      ? Promise.resolve({ sessionToken: FIXTURE.sessionToken, expiresAt: Date.now() + 60_000 })
      : Promise.reject(new PoolError("E_TOTP_INVALID", "That code is not valid.")),
  checkSession: (token) => token === FIXTURE.sessionToken,
};

function events(): Set<string> {
  return new Set(allLogLines().map((line) => (JSON.parse(line) as { event?: string }).event ?? ""));
}

describe("secrets never reach the logs", () => {
  const open = useGatewayFixture({ gate, authFailureBurst: 2, rateLimitPerSecond: 1, rateLimitBurst: 40 });

  it("keeps every fixture secret out of the log while exercising each secret-bearing path", async () => {
    const fixture = await open();
    const gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    try {
      const admin = { token: fixture.adminToken };
      const session = { ...admin, headers: { "x-credpool-session": FIXTURE.sessionToken } };
      // TOTP: a wrong code, then the right one; both codes are fixture secrets.
      expect(
        (await fixture.call("POST", "/v1/admin/session", { ...admin, body: { code: FIXTURE.badTotpCode } })).status,
      ).toBe(401);
      expect(
        (await fixture.call("POST", "/v1/admin/session", { ...admin, body: { code: FIXTURE.totpCode } })).status,
      ).toBe(200);
      // Admin add with an API key and an OAuth pair, then reveal.
      const added = await fixture.call<{ id: string }>("POST", "/v1/admin/credentials", {
        ...session,
        body: {
          provider: "openai",
          kind: "oauth",
          label: "added-oauth",
          secrets: { accessToken: FIXTURE.addedKey, refreshToken: FIXTURE.addedRefresh },
        },
      });
      expect(added.status, added.text).toBe(200);
      expect((await fixture.call("POST", `/v1/admin/credentials/${added.json.id}/reveal`, session)).status).toBe(200);
      expect((await fixture.call("POST", "/v1/admin/credentials/codex-account/reveal", session)).status).toBe(200);

      // Leases of every kind over a real socket, released with failures whose messages and headers quote secrets. The
      // cooldown is long, so the "every credential benched" check below does not depend on how fast this runs.
      const client = createGatewayClient({ url: gateway.url, token: fixture.leaseToken });
      for (const provider of ["anthropic", "openai-codex", "openai", "capped"]) {
        const lease = await client.lease(provider, { model: "model-x" });
        await client.release(lease.leaseId, {
          outcome: "error",
          status: 401,
          message: `Incorrect API key provided: ${lease.token}. Authorization: Bearer ${lease.token}`,
          headers: { authorization: `Bearer ${lease.token}`, "x-api-key": lease.token, "retry-after": "600" },
        });
      }
      // The credential with only a refresh token cannot be leased; the refusal must not mention the token.
      await expect(client.lease("custom:idp")).rejects.toMatchObject({ code: "E_NO_CREDENTIAL" });
      // Every credential of a provider benched: the pool logs why it has none.
      await expect(client.lease("anthropic")).rejects.toMatchObject({ code: "E_NO_CREDENTIAL" });

      // Forged bearer tokens that are real secrets, more than the failure burst, so the throttle is logged too.
      for (const forged of [FIXTURE.anthropicKey, FIXTURE.oauthRefresh, `${fixture.leaseToken}x`]) {
        await fixture.call("GET", "/v1/pool", {
          token: forged,
          remoteAddress: "10.9.9.9",
          headers: { "x-request-id": "probe" },
        });
      }
      // Rate limited: the bucket of 40 runs dry.
      let limited = 0;
      for (let i = 0; i < 45; i++) if ((await fixture.call("GET", "/v1/pool", admin)).status === 429) limited++;
      expect(limited).toBeGreaterThan(0);
    } finally {
      await gateway.close();
    }

    // The capture is real: the events above were logged, at trace level.
    const seen = events();
    for (const event of [
      "admin.action",
      "auth.denied",
      "auth.failed",
      "auth.throttled",
      "lease.granted",
      "lease.released",
      "lease.denied",
      "pool.credential_status",
      "pool.no_credential",
    ]) {
      expect(seen, event).toContain(event);
    }
    const adminLines = allLogLines().filter((line) => line.includes('"admin.action"'));
    expect(adminLines.some((line) => line.includes('"principal":"operator"'))).toBe(true);
    expect(findLeaks(allLogLines())).toEqual([]);
  });

  it("censors secrets by key wherever a log call puts them", () => {
    const lines: string[] = [];
    const logger = createGatewayLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } });
    logger.info(
      {
        event: "probe",
        token: FIXTURE.anthropicKey,
        apiKey: FIXTURE.openrouterKey,
        headers: { authorization: `Bearer ${FIXTURE.oauthAccess}` },
        lease: { token: FIXTURE.cappedKey },
        credential: { id: "c1", secrets: { apiKey: FIXTURE.addedKey, refreshToken: FIXTURE.oauthRefresh } },
        grant: { access_token: FIXTURE.oauthAccess, refresh_token: FIXTURE.refreshOnlyRefresh },
        session: { sessionToken: FIXTURE.sessionToken },
        code: FIXTURE.totpCode,
      },
      "probe",
    );
    expect(lines).toHaveLength(1);
    expect(findLeaks(lines)).toEqual([]);
    expect(lines[0]).toContain('"credential":{"id":"c1","secrets":"[redacted]"}');
    expect(REDACTED_PATHS).toContain("headers.authorization");
  });

  it("has a leak detector that finds a secret, or any 15-character stretch of one", () => {
    const logger = createCapturingLogger();
    const planted = [
      `{"msg":"${FIXTURE.oauthRefresh}"}`,
      `{"msg":"…${FIXTURE.anthropicKey.slice(20, 35)}…"}`,
      `{"otp":"${FIXTURE.totpCode}"}`,
    ];
    expect(findLeaks(planted)).toHaveLength(3);
    expect(findLeaks([`{"masked":"sk-ant-api03-…${FIXTURE.anthropicKey.slice(-4)}"}`])).toEqual([]);
    logger.info({ event: "redaction.control" }, "control line");
  });
});
