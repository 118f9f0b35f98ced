// Access control: three failed authentications from one source block it, good token or not, until the block ends.
// The clock is injected, so the hour-long block ends without waiting for it.
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

const HOUR = 3_600_000;
const FORGED = `cpg_abcdefabcdef_${"Z".repeat(32)}`;

function blockEvents(source: string): unknown[] {
  return allLogLines()
    .map((line) => JSON.parse(line) as { event?: string; source?: string })
    .filter((entry) => entry.event === "auth.source_blocked" && entry.source === source);
}

describe("blocking a source after failed authentications", () => {
  let clock = 1_800_000_000_000;
  const open = useGatewayFixture({ now: () => clock });

  it("blocks a good token from a source after 3 bad ones, until the hour is over, and not other sources", async () => {
    const fixture = await open();
    const attacker = "10.0.0.7";
    const lease = { body: { provider: "anthropic" } };

    // Two failures are not yet a block: the good token still works.
    for (const token of [FORGED, null]) {
      expect((await fixture.call("POST", "/v1/leases", { ...lease, token, remoteAddress: attacker })).status).toBe(401);
    }
    expect((await fixture.call("GET", "/v1/pool", { remoteAddress: "10.0.0.9", token: FORGED })).status).toBe(401);
    const third = await fixture.call("GET", "/v1/pool", { token: `${fixture.leaseToken}x`, remoteAddress: attacker });
    expect(third.status).toBe(401);
    expectJsonError(third, "E_UNAUTHORIZED");

    const blocked = await fixture.call("POST", "/v1/leases", { ...lease, remoteAddress: attacker });
    expect(blocked.status).toBe(403);
    expectJsonError(blocked, "E_FORBIDDEN");
    expect(Number(blocked.headers["retry-after"])).toBe(HOUR / 1000);
    expect(fixture.handler.services.leases.size).toBe(0);
    // An admin token from the same source is blocked as well.
    expect((await fixture.call("GET", "/v1/pool", { token: fixture.adminToken, remoteAddress: attacker })).status).toBe(403);

    // Another source with the same good token is unaffected (it had only one failure of its own).
    expect((await fixture.call("POST", "/v1/leases", { ...lease, remoteAddress: "10.0.0.9" })).status).toBe(201);

    clock += HOUR - 1;
    const stillBlocked = await fixture.call("POST", "/v1/leases", { ...lease, remoteAddress: attacker });
    expect(stillBlocked.status).toBe(403);
    expect(stillBlocked.headers["retry-after"]).toBe("1");

    clock += 1;
    const after = await fixture.call("POST", "/v1/leases", { ...lease, remoteAddress: attacker });
    expect(after.status).toBe(201);
    expect(after.json.token).toBe(FIXTURE.anthropicKey);
  });

  it("logs the block once per 5 minutes however often the blocked source knocks", async () => {
    const fixture = await open();
    const source = "10.0.0.8";
    for (let i = 0; i < 3; i++) await fixture.call("GET", "/v1/pool", { token: FORGED, remoteAddress: source });
    expect(blockEvents(source)).toHaveLength(1);
    for (let i = 0; i < 20; i++) {
      expect((await fixture.call("GET", "/v1/pool", { remoteAddress: source })).status).toBe(403);
      clock += 10_000;
    }
    // 200 s of knocking: still the one event from when the block began.
    expect(blockEvents(source)).toHaveLength(1);
    clock += 100_000;
    await fixture.call("GET", "/v1/pool", { remoteAddress: source });
    expect(blockEvents(source)).toHaveLength(2);
  });

  it("does not count public routes, and a success clears earlier failures", async () => {
    const fixture = await open();
    const source = "10.0.0.10";
    for (let i = 0; i < 5; i++) {
      expect((await fixture.call("GET", "/healthz", { token: FORGED, remoteAddress: source })).status).toBe(200);
    }
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) await fixture.call("GET", "/v1/pool", { token: FORGED, remoteAddress: source });
      expect((await fixture.call("GET", "/v1/pool", { remoteAddress: source })).status).toBe(200);
    }
  });
});

describe("blocking over real sockets", () => {
  const open = useGatewayFixture();

  it("blocks the peer address that sent the bad tokens and serves a different loopback address", async () => {
    const fixture = await open();
    const gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    try {
      const port = Number(new URL(gateway.url).port);
      // 127.0.0.0/8 is all loopback: binding the client side to two addresses gives two sources.
      const from = (localAddress: string, token: string) =>
        sendHttp(
          { host: "127.0.0.1", port, localAddress },
          { method: "GET", path: "/v1/pool", headers: { authorization: `Bearer ${token}` } },
        );
      for (let i = 0; i < 3; i++) expect((await from("127.0.0.2", FORGED)).status).toBe(401);
      const blocked = await from("127.0.0.2", fixture.leaseToken);
      expect(blocked.status).toBe(403);
      expectJsonError(blocked, "E_FORBIDDEN");
      expect((await from("127.0.0.3", fixture.leaseToken)).status).toBe(200);
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
    await expect.poll(async () => (await fixture.call("POST", "/v1/leases", lease)).status, { timeout: 5000 }).toBe(401);
    expect((await fixture.call("POST", "/v1/leases", { ...lease, token: minted.token })).status).toBe(201);
    // A different source, so the failures above do not block this check.
    expect((await fixture.call("POST", "/v1/leases", { ...lease, token: fixture.otherLeaseToken, remoteAddress: "10.0.0.2" })).status).toBe(201);
  });
});
