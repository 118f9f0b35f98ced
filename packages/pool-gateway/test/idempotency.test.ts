// Idempotency-Key: a retried lease replays the first response and never leases twice, also when the duplicates
// arrive at the same time; a failure is not pinned, so a real retry can still succeed.
import { describe, expect, it } from "vitest";
import {
  FIXTURE,
  checkLogsAndResponsesAfterAll,
  expectJsonError,
  useGatewayFixture,
  type GatewayFixture,
} from "./helpers.js";

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

describe("Idempotency-Key after authentication", () => {
  const open = useGatewayFixture();

  it("answers a revoked token 401, not the lease it was given under the same key", async () => {
    const fixture = await open();
    const first = await leaseWithKey(fixture, "openrouter", "before-revoke");
    expect(first.status).toBe(201);
    await fixture.tokens.revoke("worker");
    // The token file is followed by a watcher; the revocation lands within a moment.
    await expect.poll(async () => (await fixture.call("GET", "/v1/pool")).status, { timeout: 5000 }).toBe(401);
    const replay = await leaseWithKey(fixture, "openrouter", "before-revoke");
    expect(replay.status).toBe(401);
    expectJsonError(replay, "E_UNAUTHORIZED");
    expect(replay.text).not.toContain(FIXTURE.openrouterKey);
  });

  it("refuses the same key with a different body with 422, instead of replaying the other provider's lease", async () => {
    const fixture = await open();
    const first = await leaseWithKey(fixture, "anthropic", "one-key");
    expect(first.status).toBe(201);
    const other = await leaseWithKey(fixture, "openrouter", "one-key");
    expect(other.status).toBe(422);
    expectJsonError(other, "E_IDEMPOTENCY_MISMATCH");
    expect((other.json.error as { message: string }).message).toContain("different request body");
    expect(other.text).not.toContain(FIXTURE.anthropicKey);
    // The key still replays its own request, and the other token's key space is its own.
    expect((await leaseWithKey(fixture, "anthropic", "one-key")).json.leaseId).toBe(first.json.leaseId);
    const theirs = await leaseWithKey(fixture, "openrouter", "one-key", fixture.otherLeaseToken);
    expect(theirs.status).toBe(201);
    expect(theirs.json.provider).toBe("openrouter");
  });
});
