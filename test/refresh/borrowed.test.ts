// Borrowed credentials (the default for Claude Code and Codex files): the other tool is the refresher. credpool
// never calls the token endpoint for them; it re-reads the file, and picks the new token up when the file changes.
import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { listCredentials, syncSources } from "@credpool/pool-core";
import { startTogether } from "@credpool/pool-testkit";
import { createWorld, nextLease, waitForLease, type RefreshWorld } from "./world.js";

describe("borrowed credentials", () => {
  let world: RefreshWorld;
  afterEach(async () => world?.close());

  async function writeClaude(tokens: { accessToken: string; refreshToken: string }, expiresAt: number): Promise<void> {
    await writeFile(
      world.claudePath,
      JSON.stringify({
        claudeAiOauth: {
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          expiresAt,
          scopes: ["user:inference"],
        },
      }),
      { mode: 0o600 },
    );
  }

  it("make zero token calls, and serve the file's new token once the file changes", async () => {
    world = await createWorld();
    const stale = world.server.issue();
    await writeClaude(stale, Date.now() - 60_000);
    const imported = await syncSources(world.backend, [{ kind: "claude-code", path: world.claudePath }], { env: {} });
    expect(imported.changes[0]).toMatchObject({ action: "added" });
    const [credential] = listCredentials((await world.backend.read()).doc);
    expect(credential).toMatchObject({ ownership: "borrow", source: "claude-code" });

    // Several processes find it expired at once: none of them refreshes it.
    const early = Array.from({ length: 4 }, () => world.spawnLeaser());
    await startTogether(early);
    const outcomes = await Promise.all(early.map((child) => waitForLease(child)));
    expect(outcomes.every((outcome) => !outcome.leased)).toBe(true);
    expect(outcomes.some((outcome) => /borrowed from .*Claude Code refreshes it/.test(outcome.message ?? ""))).toBe(
      true,
    );
    expect(world.server.calls).toHaveLength(0);

    // A long-running worker watches the file; Claude Code then refreshes and rewrites it.
    const worker = world.spawnLeaser(["--serve", "1", "--watch", "1"]);
    await startTogether([worker]);
    await waitForLease(worker);
    const refreshedByClaude = world.server.issue();
    await writeClaude(refreshedByClaude, Date.now() + 3_600_000);
    await worker.waitFor<{ synced?: boolean }>((message) => message.synced === true);
    const leased = nextLease(worker);
    worker.send("lease");
    expect(await leased).toMatchObject({ leased: true, token: refreshedByClaude.accessToken });

    // A process without a watcher re-reads the file itself when its copy is due.
    const newest = world.server.issue();
    await writeClaude(newest, Date.now() + 2 * 3_600_000);
    await world.backend.update((doc) => {
      const entry = listCredentials(doc)[0];
      if (entry) entry.secrets.expiresAt = Date.now() - 1000;
    });
    const reader = world.spawnLeaser();
    await startTogether([reader]);
    expect(await waitForLease(reader)).toMatchObject({ leased: true, token: newest.accessToken });

    expect(world.server.calls).toHaveLength(0);
    worker.send("exit");
    expect((await worker.exited).code).toBe(0);
  });
});
