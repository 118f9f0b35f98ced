// Failure 3 (replayed single-use refresh tokens): 16 processes lease the same expired OAuth credential at once.
// Exactly one of them may call the token endpoint; the other 15 must adopt its result from the pool.
import { afterEach, describe, expect, it } from "vitest";
import { fingerprintToken, refreshStateOf } from "@credpool/pool-core";
import { startTogether } from "@credpool/pool-testkit";
import { createWorld, seedCredential, waitForLease, type RefreshWorld } from "./world.js";

describe("single-flight refresh across processes", () => {
  let world: RefreshWorld;
  afterEach(async () => world?.close());

  it("16 processes at a start barrier make exactly one token call and all get the same new access token", async () => {
    // Latency keeps the winner's request open while the others pile up on the refresh lock.
    world = await createWorld({ latencyMs: 150 });
    const tokens = world.server.issue();
    await seedCredential(world.backend, {
      secrets: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() - 60_000 },
    });
    const children = Array.from({ length: 16 }, () => world.spawnLeaser());
    await startTogether(children);
    const results = await Promise.all(children.map((child) => waitForLease(child)));
    const exits = await Promise.all(children.map((child) => child.exited));

    expect(exits.every((exit) => exit.code === 0)).toBe(true);
    expect(world.server.calls).toHaveLength(1);
    world.server.assertNoReuse();
    const issued = world.server.current(tokens.family);
    expect(results.map((result) => result.leased)).toEqual(Array.from({ length: 16 }, () => true));
    expect(new Set(results.map((result) => result.token))).toEqual(new Set([issued.accessToken]));

    const credential = await world.credential("cred1");
    expect(credential.tokenGeneration).toBe(1);
    expect(credential.secrets.refreshToken).toBe(issued.refreshToken);
    expect(credential.status.state).toBe("ok");
    const state = refreshStateOf(credential);
    expect(state.inFlight).toBeUndefined();
    expect(state.usedTokenFps).toEqual([fingerprintToken(tokens.refreshToken)]);
  });
});
