// Authentication and failed attempts: a valid token always gets through, whatever other clients on the same
// address did; failures are throttled (429 with Retry-After) per token id and globally, never by address.
// The clock is injected, so buckets refill without waiting. The same over real processes: test/gateway/auth-noise.test.ts.
import { startGatewayServer } from "@credpool/pool-gateway";
import { describe, expect, it } from "vitest";
import {
  FIXTURE,
  allLogLines,
  checkLogsAndResponsesAfterAll,
  expectJsonError,
  rememberSecret,
  sendHttp,
  useGatewayFixture,
} from "./helpers.js";

checkLogsAndResponsesAfterAll();

const FORGED = `cpg_abcdefabcdef_${"Z".repeat(32)}`;

function throttleEvents(): Array<{ scope?: string; refusedSinceLastEvent?: number }> {
  return allLogLines()
    .map((line) => JSON.parse(line) as { event?: string; scope?: string; refusedSinceLastEvent?: number })
    .filter((entry) => entry.event === "auth.throttled");
}

describe("failed authentications never lock out a valid token", () => {
  let clock = 1_800_000_000_000;
  const open = useGatewayFixture({ now: () => clock });

  for (const failures of [3, 100]) {
    it(`serves valid lease and admin tokens from the same address after ${failures} failed attempts there`, async () => {
      const fixture = await open();
      const lease = { body: { provider: "anthropic" } };
      const statuses = new Set<number>();
      for (let i = 0; i < failures; i++) {
        const token = [FORGED, null, `${fixture.leaseToken}x`][i % 3] ?? null;
        statuses.add(
          (await fixture.call("POST", "/v1/leases", { ...lease, token, remoteAddress: "127.0.0.1" })).status,
        );
      }
      const granted = await fixture.call("POST", "/v1/leases", { ...lease, remoteAddress: "127.0.0.1" });
      expect(granted.status, granted.text).toBe(201);
      expect(granted.json.token).toBe(FIXTURE.anthropicKey);
      expect(
        (await fixture.call("GET", "/v1/pool", { token: fixture.adminToken, remoteAddress: "127.0.0.1" })).status,
      ).toBe(200);
      expect(
        [...statuses].every((status) => status === 401 || status === 429),
        [...statuses].join(),
      ).toBe(true);
    });
  }

  it("answers failures beyond the global burst with 429 and Retry-After, and 401 again once the bucket refills", async () => {
    const fixture = await open();
    // 50 failures fit the default burst of 50, with tokens of 25 distinct ids (2 each, within the per-id burst).
    for (let i = 0; i < 50; i++) {
      const token = `cpg_${String(i >> 1).padStart(8, "0")}_${"Z".repeat(32)}`;
      expect((await fixture.call("GET", "/v1/pool", { token })).status).toBe(401);
    }
    const throttled = await fixture.call("GET", "/v1/pool", { token: null });
    expect(throttled.status).toBe(429);
    expectJsonError(throttled, "E_RATE_LIMITED");
    expect(throttled.headers["retry-after"]).toBe("1");
    expect((await fixture.call("GET", "/v1/pool")).status).toBe(200);
    clock += 1000;
    expect((await fixture.call("GET", "/v1/pool", { token: null })).status).toBe(401);
  });

  it("throttles one token id that keeps failing, while its holder and other failures are unaffected", async () => {
    const fixture = await open();
    const id = /^cpg_([a-z0-9]+)_/.exec(fixture.leaseToken)?.[1] ?? "";
    const wrongSecret = `cpg_${id}_${"Q".repeat(32)}`;
    for (let i = 0; i < 5; i++)
      expect((await fixture.call("GET", "/v1/pool", { token: wrongSecret })).status).toBe(401);
    const throttled = await fixture.call("GET", "/v1/pool", { token: wrongSecret });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers["retry-after"])).toBe(5);
    // The real holder of that id, and a client failing with another id, see nothing of it.
    expect((await fixture.call("GET", "/v1/pool")).status).toBe(200);
    expect((await fixture.call("GET", "/v1/pool", { token: FORGED })).status).toBe(401);
    const events = throttleEvents();
    expect(events.at(-1)).toMatchObject({ scope: "token id", refusedSinceLastEvent: 1 });
  });

  it("logs the throttle once per 5 minutes however long the noise goes on", async () => {
    const fixture = await open();
    const before = throttleEvents().length;
    for (let i = 0; i < 60; i++) await fixture.call("GET", "/v1/pool", { token: null });
    expect(throttleEvents()).toHaveLength(before + 1);
    clock += 5 * 60_000;
    for (let i = 0; i < 60; i++) await fixture.call("GET", "/v1/pool", { token: null });
    const events = throttleEvents();
    expect(events).toHaveLength(before + 2);
    expect(events.at(-1)?.refusedSinceLastEvent).toBe(10);
  });

  it("does not count bad tokens on public routes", async () => {
    const fixture = await open();
    for (let i = 0; i < 200; i++) {
      expect((await fixture.call("GET", "/healthz", { token: FORGED })).status).toBe(200);
    }
    expect((await fixture.call("GET", "/v1/pool", { token: FORGED })).status).toBe(401);
  });
});

describe("failed authentications over real sockets", () => {
  const open = useGatewayFixture();

  it("serves a valid token from the loopback address that sent 100 bad ones", async () => {
    const fixture = await open();
    const gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    try {
      const port = Number(new URL(gateway.url).port);
      const from = (token: string) =>
        sendHttp(
          { host: "127.0.0.1", port },
          { method: "GET", path: "/v1/pool", headers: { authorization: `Bearer ${token}` } },
        );
      const refused = new Set<number>();
      for (let i = 0; i < 100; i++) refused.add((await from(FORGED)).status);
      expect(refused).toEqual(new Set([401, 429]));
      expect((await from(fixture.leaseToken)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});

describe("token changes while the gateway runs", () => {
  const open = useGatewayFixture();

  it("refuses a same-length forgery of a token it has already accepted", async () => {
    const fixture = await open();
    const lease = { body: { provider: "anthropic" } };
    expect((await fixture.call("POST", "/v1/leases", lease)).status).toBe(201);
    const last = fixture.leaseToken.at(-1) === "A" ? "B" : "A";
    const forged = `${fixture.leaseToken.slice(0, -1)}${last}`;
    const forgedEarly = `${fixture.leaseToken.slice(0, -20)}${"A".repeat(20)}`;
    for (const token of [forged, forgedEarly]) {
      expect((await fixture.call("POST", "/v1/leases", { ...lease, token })).status).toBe(401);
      expect((await fixture.call("POST", "/v1/leases", lease)).status).toBe(201);
    }
  });

  it("refuses a revoked token and accepts a new one without a restart", async () => {
    const fixture = await open();
    const lease = { body: { provider: "anthropic" } };
    expect((await fixture.call("POST", "/v1/leases", lease)).status).toBe(201);

    await fixture.tokens.revoke("worker");
    const minted = await fixture.tokens.create("late-worker", "lease");
    rememberSecret(minted.token);
    // The token file is followed by a watcher; the revocation lands within a moment.
    await expect
      .poll(async () => (await fixture.call("POST", "/v1/leases", lease)).status, { timeout: 5000 })
      .toBe(401);
    expect((await fixture.call("POST", "/v1/leases", { ...lease, token: minted.token })).status).toBe(201);
    // The revoked token's failures above do not touch another token.
    expect((await fixture.call("POST", "/v1/leases", { ...lease, token: fixture.otherLeaseToken })).status).toBe(201);
  });
});
