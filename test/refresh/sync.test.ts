// Failure 2 (half-synced state): a sync applies every source's changes in ONE commit, and a sync with nothing new
// makes no commit at all, even when several processes sync at once.
import { unlink, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { listCredentials, type PoolDocument } from "@credpool/pool-core";
import { spawnChild, startTogether, type ChildHandle } from "@credpool/pool-testkit";
import { createWorld, syncScript, type RefreshWorld } from "./world.js";

interface SyncDone {
  done: boolean;
  writes: number;
  committed: boolean;
  rev: number;
  actions: string[];
  errors: string[];
}

describe("source sync across processes", () => {
  let world: RefreshWorld;
  afterEach(async () => world?.close());

  function spawnSyncers(count: number, env: NodeJS.ProcessEnv): ChildHandle[] {
    return Array.from({ length: count }, () =>
      spawnChild(syncScript, ["--pool", world.poolPath], { env: world.env(env) }),
    );
  }

  async function runSyncers(count: number, env: NodeJS.ProcessEnv): Promise<SyncDone[]> {
    const children = spawnSyncers(count, env);
    await startTogether(children);
    const results = await Promise.all(
      children.map((child) => child.waitFor<SyncDone>((message) => message.done, 30_000)),
    );
    expect((await Promise.all(children.map((child) => child.exited))).every((exit) => exit.code === 0)).toBe(true);
    return results;
  }

  async function writeSources(n: number): Promise<void> {
    const expiresAt = Date.now() + 3_600_000;
    await Promise.all([
      writeFile(
        world.claudePath,
        JSON.stringify({ claudeAiOauth: { accessToken: `at-claude-${n}`, refreshToken: `rt-claude-${n}`, expiresAt } }),
      ),
      writeFile(
        world.codexPath,
        JSON.stringify({
          OPENAI_API_KEY: null,
          tokens: { access_token: `at-codex-${n}`, refresh_token: `rt-codex-${n}`, account_id: "a" },
        }),
      ),
    ]);
  }

  function snapshotOf(doc: PoolDocument) {
    const all = listCredentials(doc);
    return {
      claude: all.find((credential) => credential.source === "claude-code")?.secrets.refreshToken,
      codex: all.find((credential) => credential.source === "codex")?.secrets.refreshToken,
      envKeys: all
        .filter((credential) => credential.source === "env:ANTHROPIC_API_KEY")
        .map((credential) => credential.secrets.apiKey),
    };
  }

  it("commits three changed sources exactly once, and a repeated sync commits nothing", async () => {
    world = await createWorld();
    await writeSources(1);
    const [first] = await runSyncers(1, { ANTHROPIC_API_KEY: "sk-ant-api-1" });
    expect(first).toMatchObject({ writes: 1, committed: true, rev: 1, errors: [] });
    expect(snapshotOf((await world.backend.read()).doc)).toEqual({
      claude: "rt-claude-1",
      codex: "rt-codex-1",
      envKeys: ["sk-ant-api-1"],
    });

    // All three change at once (a re-login in Claude Code and Codex, a new key in the environment). Four processes
    // sync at the same moment: between them, exactly one commit, holding all three changes.
    await writeSources(2);
    const racing = await runSyncers(4, { ANTHROPIC_API_KEY: "sk-ant-api-2" });
    expect(racing.reduce((sum, result) => sum + result.writes, 0)).toBe(1);
    const after = (await world.backend.read()).doc;
    expect(after.rev).toBe(2);
    expect(snapshotOf(after)).toEqual({
      claude: "rt-claude-2",
      codex: "rt-codex-2",
      envKeys: ["sk-ant-api-1", "sk-ant-api-2"],
    });

    // Nothing new: no commit, rev unchanged.
    const repeated = await runSyncers(3, { ANTHROPIC_API_KEY: "sk-ant-api-2" });
    expect(repeated.map((result) => result.writes)).toEqual([0, 0, 0]);
    expect(repeated.every((result) => !result.committed)).toBe(true);
    expect((await world.backend.read()).rev).toBe(2);

    // A process without the variable, with Claude Code's file gone and Codex's truncated, changes nothing either:
    // a missing or unreadable source is never read as "no credentials".
    await unlink(world.claudePath);
    await writeFile(world.codexPath, "");
    const bare = await runSyncers(1, {});
    expect(bare[0]?.writes).toBe(0);
    expect(bare[0]?.errors).toEqual([expect.stringContaining(world.codexPath)]);
    expect(snapshotOf((await world.backend.read()).doc)).toEqual({
      claude: "rt-claude-2",
      codex: "rt-codex-2",
      envKeys: ["sk-ant-api-1", "sk-ant-api-2"],
    });
  });
});
