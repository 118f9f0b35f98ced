// Idempotency-Key: a retried lease replays the first response and never leases twice, also when the duplicates
// arrive at the same time; a failure is not pinned, so a real retry can still succeed.
import { describe, expect, it } from "vitest";
import { checkLogsAndResponsesAfterAll, expectJsonError, useGatewayFixture, type GatewayFixture } from "./helpers.js";

checkLogsAndResponsesAfterAll();

function leaseWithKey(fixture: GatewayFixture, provider: string, key: string, token?: string) {
  return fixture.call("POST", "/v1/leases", {
    body: { provider },
    headers: { "idempotency-key": key },
    ...(token ? { token } : {}),
  });
}

async function persistedLeases(fixture: GatewayFixture, label: string): Promise<number> {
  const { doc } = await fixture.pool.backend.read();
  const credential = Object.values(doc.providers)
    .flatMap((provider) => provider.credentials)
    .find((item) => item.label === label);
  return credential?.leases?.length ?? 0;
}

describe("Idempotency-Key on POST /v1/leases", () => {
  const open = useGatewayFixture();

  it("gives one lease for the same key sent twice, and a new lease for a new key", async () => {
    const fixture = await open();
    const first = await leaseWithKey(fixture, "capped", "retry-1");
    const second = await leaseWithKey(fixture, "capped", "retry-1");
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.json.leaseId).toBe(first.json.leaseId);
    expect(second.headers["idempotent-replay"]).toBe("true");
    expect(first.headers["idempotent-replay"]).toBeUndefined();
    expect(await persistedLeases(fixture, "capped-key")).toBe(1);
    expect(fixture.handler.services.leases.size).toBe(1);

    const third = await leaseWithKey(fixture, "capped", "retry-2");
    expect(third.json.leaseId).not.toBe(first.json.leaseId);
    expect(await persistedLeases(fixture, "capped-key")).toBe(2);
  });

  it("gives one lease to 12 concurrent requests with the same key", async () => {
    const fixture = await open();
    const results = await Promise.all(Array.from({ length: 12 }, () => leaseWithKey(fixture, "capped", "burst-key")));
    const ids = new Set(results.map((result) => result.json.leaseId as string));
    expect(results.map((result) => result.status)).toEqual(Array(12).fill(201));
    expect(ids.size).toBe(1);
    expect(await persistedLeases(fixture, "capped-key")).toBe(1);
    expect(fixture.handler.services.leases.size).toBe(1);
    // The cap is 2, so one more real lease fits; had the burst leased twice, this would be refused.
    expect((await leaseWithKey(fixture, "capped", "another-key")).status).toBe(201);
  });

  it("counts one request in the usage of an uncapped credential for a replayed key", async () => {
    const fixture = await open();
    await Promise.all(Array.from({ length: 5 }, () => leaseWithKey(fixture, "openrouter", "uncapped-key")));
    await leaseWithKey(fixture, "openrouter", "uncapped-key");
    await fixture.pool.flush();
    expect(fixture.pool.resolve("or-key").usage.requests).toBe(1);
  });

  it("keeps keys apart per client token, so one client never receives another's lease", async () => {
    const fixture = await open();
    const mine = await leaseWithKey(fixture, "openrouter", "shared-key");
    const theirs = await leaseWithKey(fixture, "openrouter", "shared-key", fixture.otherLeaseToken);
    expect(theirs.status).toBe(201);
    expect(theirs.json.leaseId).not.toBe(mine.json.leaseId);
    expect(theirs.headers["idempotent-replay"]).toBeUndefined();
  });

  it("does not pin a refusal: the same key leases once a capped credential frees up", async () => {
    const fixture = await open();
    const held = [await leaseWithKey(fixture, "capped", "a"), await leaseWithKey(fixture, "capped", "b")];
    const refused = await leaseWithKey(fixture, "capped", "c");
    expect(refused.status).toBe(503);
    expectJsonError(refused, "E_NO_CREDENTIAL");
    await fixture.call("POST", `/v1/leases/${held[0]?.json.leaseId as string}/release`, { body: { outcome: "ok" } });
    const retried = await leaseWithKey(fixture, "capped", "c");
    expect(retried.status).toBe(201);
    expect(retried.headers["idempotent-replay"]).toBeUndefined();
  });

});

describe("Idempotency-Key and access control", () => {
  let clock = 1_800_000_000_000;
  const open = useGatewayFixture({ now: () => clock });

  it("does not pin a block: once the block ends, the same key gets its lease", async () => {
    const fixture = await open();
    const source = "10.1.1.1";
    for (let i = 0; i < 3; i++) await fixture.call("GET", "/v1/pool", { token: "cpg_forged", remoteAddress: source });
    const attempt = () =>
      fixture.call("POST", "/v1/leases", {
        body: { provider: "openrouter" },
        headers: { "idempotency-key": "after-block" },
        remoteAddress: source,
      });
    expect((await attempt()).status).toBe(403);
    clock += 3_600_000;
    const retried = await attempt();
    expect(retried.status).toBe(201);
    expect(retried.headers["idempotent-replay"]).toBeUndefined();
    expect((await attempt()).json.leaseId).toBe(retried.json.leaseId);
  });
});
