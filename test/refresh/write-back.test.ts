// Owned credentials (imported with --own): credpool refreshes them and writes the new pair back into the other
// tool's file, so that tool never replays a spent token. The file keeps its unknown fields and mode, and a
// symlinked file stays a symlink.
import { lstat, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listCredentials, syncSources } from "@credpool/pool-core";
import { spawnChild, startTogether } from "@credpool/pool-testkit";
import { createWorld, syncScript, waitForLease, type RefreshWorld } from "./world.js";

describe("write-back to owned source files", () => {
  let world: RefreshWorld;
  afterEach(async () => world?.close());

  it("rewrites a symlinked Claude Code file through the link, keeping unknown fields and mode 0640", async () => {
    world = await createWorld();
    const tokens = world.server.issue();
    const realDir = join(world.dir.path, "dotfiles");
    await mkdir(realDir);
    const target = join(realDir, "claude-credentials.json");
    const original = {
      claudeAiOauth: {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        expiresAt: Date.now() - 60_000,
        scopes: ["user:inference", "user:profile"],
        subscriptionType: "max",
        rateLimitTier: "default_claude_max_20x",
      },
      mcpOAuth: { "github|abc": { accessToken: "mcp-token-kept" } },
      futureField: { nested: [1, 2, 3] },
    };
    await writeFile(target, JSON.stringify(original), { mode: 0o640 });
    await symlink(target, world.claudePath);
    await syncSources(world.backend, [{ kind: "claude-code", path: world.claudePath, ownership: "own" }], { env: {} });

    const leaser = world.spawnLeaser();
    await startTogether([leaser]);
    const outcome = await waitForLease(leaser);
    const issued = world.server.current(tokens.family);
    expect(outcome).toMatchObject({ leased: true, token: issued.accessToken });
    expect(world.server.calls).toHaveLength(1);

    expect((await lstat(world.claudePath)).isSymbolicLink()).toBe(true);
    expect((await stat(target)).mode & 0o777).toBe(0o640);
    const written = JSON.parse(await readFile(target, "utf8")) as typeof original;
    const [credential] = listCredentials((await world.backend.read()).doc);
    expect(written).toEqual({
      ...original,
      claudeAiOauth: {
        ...original.claudeAiOauth,
        accessToken: issued.accessToken,
        refreshToken: issued.refreshToken,
        expiresAt: credential?.secrets.expiresAt,
      },
    });

    // Another process syncing now finds the file and the pool in agreement: no commit, no stale token put back.
    const syncer = spawnChild(syncScript, ["--pool", world.poolPath], { env: world.env() });
    await startTogether([syncer]);
    expect(await syncer.waitFor<{ done?: boolean; writes?: number }>((message) => message.done === true)).toMatchObject(
      { writes: 0 },
    );
    world.server.assertNoReuse();
  });

  it("rewrites a Codex auth file's tokens and last_refresh, keeping its other fields and mode", async () => {
    world = await createWorld();
    const tokens = world.server.issue({ accountId: "acct-9" });
    const original = {
      auth_mode: "chatgpt",
      OPENAI_API_KEY: null,
      tokens: {
        id_token: tokens.idToken,
        access_token: tokens.accessToken,
        refresh_token: tokens.refreshToken,
        account_id: "acct-9",
      },
      last_refresh: "2025-01-01T00:00:00Z",
      agent_identity: { kept: true },
    };
    await writeFile(world.codexPath, JSON.stringify(original, null, 2), { mode: 0o600 });
    // The token has expired according to its JWT: make the pool's copy due by expiry.
    await syncSources(world.backend, [{ kind: "codex", path: world.codexPath, ownership: "own" }], { env: {} });
    await world.backend.update((doc) => {
      const entry = listCredentials(doc, "openai-codex")[0];
      if (entry) entry.secrets.expiresAt = Date.now() - 1000;
    });

    const leaser = world.spawnLeaser(["--provider", "openai-codex"]);
    await startTogether([leaser]);
    const outcome = await waitForLease(leaser);
    const issued = world.server.current(tokens.family);
    expect(outcome).toMatchObject({ leased: true, token: issued.accessToken });

    const text = await readFile(world.codexPath, "utf8");
    const written = JSON.parse(text) as typeof original;
    expect(written.tokens).toEqual({
      id_token: issued.idToken,
      access_token: issued.accessToken,
      refresh_token: issued.refreshToken,
      account_id: "acct-9",
    });
    expect(written.agent_identity).toEqual({ kept: true });
    expect(written.auth_mode).toBe("chatgpt");
    expect(written.OPENAI_API_KEY).toBeNull();
    expect(Date.parse(written.last_refresh)).toBeGreaterThan(Date.parse("2025-01-01T00:00:00Z"));
    expect(text).toContain('\n  "tokens"');
    expect((await stat(world.codexPath)).mode & 0o777).toBe(0o600);
    expect(world.server.calls).toHaveLength(1);
  });
});
