// An admin TOTP session belongs to the token that opened it: another admin token presenting the session token is
// refused, and the audit line of an admin action names the token that typed the code.
import { PoolError, type TotpGate } from "@credpool/pool-core";
import { createAdminGate } from "../src/admin-gate.js";
import { describe, expect, it } from "vitest";
import {
  FIXTURE,
  allLogLines,
  checkLogsAndResponsesAfterAll,
  expectJsonError,
  rememberSecret,
  useGatewayFixture,
} from "./helpers.js";

checkLogsAndResponsesAfterAll();

/** A stand-in for core's TotpGate (one valid code, sessions per principal): what is under test is the gateway's part. */
function createStubTotpGate(): TotpGate {
  const live = new Set<string>();
  const stub = {
    inspect: () => Promise.resolve({ state: "configured" }),
    verify(principal: string, code: string) {
      if (code !== FIXTURE.totpCode) return Promise.reject(new PoolError("E_TOTP_INVALID", "That code is not valid."));
      live.add(principal);
      return Promise.resolve({ principal, step: 1, session: { principal, expiresAt: Date.now() + 60_000 } });
    },
    sessions: {
      touch: (principal: string) => (live.has(principal) ? { principal, expiresAt: Date.now() + 60_000 } : undefined),
    },
  };
  return stub as unknown as TotpGate;
}

interface AdminLine {
  event?: string;
  action?: string;
  principal?: string;
  tokenId?: string;
}

describe("admin TOTP sessions", () => {
  const open = useGatewayFixture({ gate: createAdminGate(createStubTotpGate()) });

  it("refuses a session to an admin token other than the one that opened it, and audits the opener", async () => {
    const fixture = await open();
    const second = await fixture.tokens.create("second-operator", "admin");
    rememberSecret(second.token);
    await expect
      .poll(async () => (await fixture.call("GET", "/v1/pool", { token: second.token })).status, { timeout: 5000 })
      .toBe(200);

    const opened = await fixture.call<{ sessionToken: string }>("POST", "/v1/admin/session", {
      token: fixture.adminToken,
      body: { code: FIXTURE.totpCode },
    });
    expect(opened.status).toBe(200);
    rememberSecret(opened.json.sessionToken);
    const session = { "x-credpool-session": opened.json.sessionToken };

    const borrowed = await fixture.call("POST", "/v1/admin/providers/anthropic/reset", {
      token: second.token,
      headers: session,
    });
    expect(borrowed.status).toBe(401);
    expectJsonError(borrowed, "E_TOTP_REQUIRED");

    // Refused to the other token, the session still works for its owner, and the audit line names the owner.
    const own = await fixture.call("POST", "/v1/admin/providers/anthropic/reset", {
      token: fixture.adminToken,
      headers: session,
    });
    expect(own.status).toBe(200);
    const resets = allLogLines()
      .map((line) => JSON.parse(line) as AdminLine)
      .filter((line) => line.event === "admin.action" && line.action === "reset");
    const operatorId = /^cpg_([a-z0-9]+)_/.exec(fixture.adminToken)?.[1];
    expect(resets).toEqual([expect.objectContaining({ principal: "operator", tokenId: operatorId })]);
  });
});
