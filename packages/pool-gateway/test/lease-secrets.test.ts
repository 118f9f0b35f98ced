// A lease hands out the access token or API key and never a refresh token: not for an OAuth credential that has
// one, not for a credential that has nothing else, and not after a refresh rotated the pair.
import type { Credential, CredentialRefresher } from "@credpool/pool-core";
import { createGatewayClient, startGatewayServer } from "@credpool/pool-gateway";
import { describe, expect, it } from "vitest";
import {
  FIXTURE,
  checkLogsAndResponsesAfterAll,
  expectJsonError,
  rememberSecret,
  useGatewayFixture,
  type LeaseJson,
} from "./helpers.js";

checkLogsAndResponsesAfterAll();

const ROTATED_ACCESS = "sk-ant-oat01-FIXTURErotatedACCESS-7777777777777777777";
const ROTATED_REFRESH = "sk-ant-ort01-FIXTURErotatedREFRESH-8888888888888888888";
rememberSecret(ROTATED_ACCESS);
rememberSecret(ROTATED_REFRESH, "refresh");

/** Every string anywhere in a parsed JSON value. */
function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([key, item]) => [key, ...stringsIn(item)]);
  return [];
}

describe("lease responses and refresh tokens", () => {
  const open = useGatewayFixture();

  it("gives an OAuth credential's access token as a bearer token, with no refresh token anywhere in the body", async () => {
    const fixture = await open();
    const result = await fixture.call<LeaseJson>("POST", "/v1/leases", { body: { provider: "openai-codex" } });
    expect(result.status).toBe(201);
    expect(result.json.token).toBe(FIXTURE.oauthAccess);
    expect(result.json.tokenType).toBe("bearer");
    expect(result.json.expiresAt).toBe(fixture.pool.resolve("codex-account").secrets.expiresAt);
    expect(result.text).not.toContain(FIXTURE.oauthRefresh);
    expect(stringsIn(result.json).filter((text) => /refresh/i.test(text))).toEqual([]);
  });

  it("refuses to lease a credential that holds only a refresh token rather than hand that token out", async () => {
    const fixture = await open();
    const result = await fixture.call("POST", "/v1/leases", { body: { provider: "custom:idp" } });
    expect(result.status).toBe(503);
    expectJsonError(result, "E_NO_CREDENTIAL");
    expect(result.text).not.toContain(FIXTURE.refreshOnlyRefresh);
    expect(fixture.handler.services.leases.size).toBe(0);
  });

  it("never returns a refresh token over a real socket to the typed client, for any credential kind", async () => {
    const fixture = await open();
    const gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    try {
      const client = createGatewayClient({ url: gateway.url, token: fixture.leaseToken });
      for (const provider of ["openai-codex", "anthropic", "openrouter", "capped"]) {
        const lease = await client.lease(provider);
        const text = JSON.stringify(lease);
        for (const refresh of [FIXTURE.oauthRefresh, FIXTURE.refreshOnlyRefresh]) expect(text).not.toContain(refresh);
        await client.release(lease.leaseId);
      }
    } finally {
      await gateway.close();
    }
  });
});

describe("lease responses after a refresh", () => {
  // Stands in for the single-flight refresher: it rotates the pair as a provider would.
  const rotated: string[] = [];
  const refresher: CredentialRefresher = (_pool, credential: Credential) => {
    rotated.push(credential.id);
    return Promise.resolve({
      ...credential,
      secrets: { ...credential.secrets, accessToken: ROTATED_ACCESS, refreshToken: ROTATED_REFRESH },
    });
  };
  const open = useGatewayFixture({}, undefined, { refresher });

  it("hands out the refreshed access token, never the new or the old refresh token", async () => {
    const fixture = await open();
    const result = await fixture.call<LeaseJson>("POST", "/v1/leases", { body: { provider: "openai-codex" } });
    expect(result.status).toBe(201);
    expect(rotated).toHaveLength(1);
    expect(result.json.token).toBe(ROTATED_ACCESS);
    for (const refresh of [ROTATED_REFRESH, FIXTURE.oauthRefresh]) expect(result.text).not.toContain(refresh);
  });
});
