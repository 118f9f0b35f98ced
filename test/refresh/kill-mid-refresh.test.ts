// A process is SIGKILLed after the provider rotated the refresh token and before credpool committed the new pair.
// The next lease sends the (now spent) token exactly once, gets invalid_grant, and the credential goes dead with a
// message that says exactly what happened and what to run. Nothing retries after that.
import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { refreshStateOf } from "@credpool/pool-core";
import { startTogether } from "@credpool/pool-testkit";
import { createWorld, seedCredential, waitForLease, type RefreshWorld } from "./world.js";

describe("kill during refresh", () => {
  let world: RefreshWorld;
  afterEach(async () => world?.close());

  it("ends dead with a clear message after exactly one further token call, and never loops", async () => {
    world = await createWorld();
    const tokens = world.server.issue();
    const secrets = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: Date.now() - 60_000,
    };
    // An owned Claude Code login: the file holds the same pair (a refresh would be written back to it).
    await writeFile(world.claudePath, JSON.stringify({ claudeAiOauth: secrets }), { mode: 0o600 });
    await seedCredential(world.backend, {
      source: "claude-code",
      sourcePath: world.claudePath,
      ownership: "own",
      secrets,
    });

    // The provider rotates and then holds its answer: the victim is inside the POST when it is killed.
    world.server.script({ type: "rotate-then-hold" });
    const victim = world.spawnLeaser(["--stale", "2000"]);
    await startTogether([victim]);
    await world.server.waitForCalls(1);
    expect(world.server.calls[0]?.outcome).toBe("rotated");
    victim.kill("SIGKILL");
    expect((await victim.exited).signal).toBe("SIGKILL");
    world.server.releaseHeld();
    const leftBehind = refreshStateOf(await world.credential("cred1")).inFlight;
    expect(leftBehind?.pid).toBe(victim.pid);

    const next = world.spawnLeaser(["--stale", "2000"]);
    await startTogether([next]);
    const outcome = await waitForLease(next);
    expect(outcome).toMatchObject({ leased: false, code: "E_REFRESH_FAILED" });
    expect(outcome.message).toContain(`An earlier refresh by process ${victim.pid}`);
    expect(outcome.message).toMatch(
      /died \(or lost its lock\) after the provider rotated the token and before credpool committed/,
    );
    expect(outcome.message).toContain("credpool import claude-code");
    expect(world.server.calls).toHaveLength(2);
    expect(world.server.reuses).toHaveLength(1);

    const dead = await world.credential("cred1");
    expect(dead.status).toMatchObject({ state: "dead", reason: "invalid_grant" });
    expect(dead.status.message).toBe(outcome.message);
    expect(refreshStateOf(dead).inFlight).toBeUndefined();

    // No loop: more leases find no credential and send nothing.
    const later = [world.spawnLeaser(), world.spawnLeaser()];
    await startTogether(later);
    for (const result of await Promise.all(later.map((child) => waitForLease(child)))) {
      expect(result).toMatchObject({ leased: false, code: "E_NO_CREDENTIAL" });
    }
    expect(world.server.calls).toHaveLength(2);
  });
});
