// The first refresh attempt times out although the provider did rotate the token. credpool must not replay the old
// refresh token (that would revoke the login): the credential is parked as dead with instructions, other processes
// send nothing, and a re-login in the source tool brings it back without any token call.
import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { refreshStateOf, fingerprintToken } from "@credpool/pool-core";
import { startTogether } from "@credpool/pool-testkit";
import { createWorld, nextLease, seedCredential, waitForLease, type RefreshWorld } from "./world.js";

describe("refresh timeout", () => {
  let world: RefreshWorld;
  afterEach(async () => world?.close());

  it("never replays the token the provider may have rotated, and recovers from a re-login without a token call", async () => {
    world = await createWorld();
    const tokens = world.server.issue();
    const secrets = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: Date.now() - 60_000,
    };
    await writeFile(world.claudePath, JSON.stringify({ claudeAiOauth: secrets }), { mode: 0o600 });
    await seedCredential(world.backend, {
      source: "claude-code",
      sourcePath: world.claudePath,
      ownership: "own",
      secrets,
    });
    world.server.script({ type: "rotate-then-delay", delayMs: 3000 });
    const fast = { CREDPOOL_REFRESH_TIMEOUT_MS: "300" };

    const first = world.spawnLeaser([], fast);
    await startTogether([first]);
    const failed = await waitForLease(first);
    expect(failed).toMatchObject({ leased: false, code: "E_REFRESH_FAILED" });
    expect(failed.message).toMatch(/no usable answer .* after its refresh token was sent/);
    expect(failed.message).toMatch(/will not resend it on its own/);
    expect(world.server.calls).toHaveLength(1);
    expect(world.server.calls[0]?.outcome).toBe("rotated");
    const parked = await world.credential("cred1");
    expect(parked.status).toMatchObject({ state: "dead", reason: "refresh_outcome_unknown" });
    expect(refreshStateOf(parked).unknownTokenFp).toBe(fingerprintToken(tokens.refreshToken));

    // Other processes, at once: nothing is sent.
    const others = [world.spawnLeaser([], fast), world.spawnLeaser([], fast), world.spawnLeaser([], fast)];
    await startTogether(others);
    for (const result of await Promise.all(others.map((child) => waitForLease(child)))) {
      expect(result).toMatchObject({ leased: false, code: "E_NO_CREDENTIAL" });
    }
    expect(world.server.calls).toHaveLength(1);
    world.server.assertNoReuse();

    // The user logs in again in Claude Code; a watching worker adopts the new pair and serves it with no token call.
    const worker = world.spawnLeaser(["--serve", "1", "--watch", "1"], fast);
    await startTogether([worker]);
    expect((await waitForLease(worker)).leased).toBe(false);
    const relogin = world.server.issue();
    await writeFile(
      world.claudePath,
      JSON.stringify({
        claudeAiOauth: {
          accessToken: relogin.accessToken,
          refreshToken: relogin.refreshToken,
          expiresAt: relogin.expiresAt,
        },
      }),
    );
    await worker.waitFor<{ synced?: boolean }>((message) => message.synced === true);
    const leased = nextLease(worker);
    worker.send("lease");
    expect(await leased).toMatchObject({ leased: true, token: relogin.accessToken });
    const revived = await world.credential("cred1");
    expect(revived.status.state).toBe("ok");
    expect(revived.tokenGeneration).toBe(1);
    expect(world.server.calls).toHaveLength(1);
    world.server.assertNoReuse();
    worker.send("exit");
    expect((await worker.exited).code).toBe(0);
  });
});
