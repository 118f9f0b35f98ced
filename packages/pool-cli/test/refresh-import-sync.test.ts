// `credpool import`, `sync` and `refresh` as real processes against a fake token server: exit codes, what they
// print (never a token), and what they leave in the pool and in the other tool's file.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createFileBackend, listCredentials, type PoolDocument } from "@credpool/pool-core";
import { startFakeTokenServer, type FakeTokenServer, type IssuedTokens } from "@credpool/pool-testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestPool, removeTestPool, type TestPool } from "./helpers/cli.js";

describe("import, sync and refresh commands", () => {
  let pool: TestPool;
  let server: FakeTokenServer;
  let home: string;
  let claudePath: string;
  let codexPath: string;
  const printed: string[] = [];

  beforeEach(async () => {
    pool = await createTestPool();
    server = await startFakeTokenServer();
    home = join(pool.dir.path, "home");
    await mkdir(join(home, ".claude"), { recursive: true });
    await mkdir(join(home, ".codex"), { recursive: true });
    claudePath = join(home, ".claude", ".credentials.json");
    codexPath = join(home, ".codex", "auth.json");
  });
  afterEach(async () => {
    await server.close();
    await removeTestPool(pool);
  });

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      HOME: home,
      CLAUDE_CONFIG_DIR: "",
      CODEX_HOME: "",
      CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl,
      CREDPOOL_OPENAI_TOKEN_URL: server.tokenUrl,
      ANTHROPIC_API_KEY: "",
      OPENAI_API_KEY: "",
      OPENROUTER_API_KEY: "",
      ...extra,
    };
  }

  async function run(args: string[], extra: NodeJS.ProcessEnv = {}) {
    const result = await pool.run(args, { env: env(extra) });
    printed.push(result.stdout, result.stderr);
    return result;
  }

  async function doc(): Promise<PoolDocument> {
    const backend = createFileBackend({ path: pool.path, createIfMissing: false });
    try {
      return (await backend.read()).doc;
    } finally {
      await backend.close();
    }
  }

  async function writeClaude(tokens: IssuedTokens, expiresAt: number): Promise<void> {
    await writeFile(
      claudePath,
      JSON.stringify({
        claudeAiOauth: {
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          expiresAt,
          subscriptionType: "max",
        },
      }),
      { mode: 0o600 },
    );
  }

  function expectNoTokenPrinted(...tokens: IssuedTokens[]): void {
    const all = printed.join("\n");
    for (const token of tokens) {
      expect(all).not.toContain(token.accessToken);
      expect(all).not.toContain(token.refreshToken);
    }
  }

  it("imports Claude Code as borrowed, refuses to refresh it, then owns it with --own and refreshes with write-back", async () => {
    const tokens = server.issue();
    await writeClaude(tokens, Date.now() - 60_000);

    const imported = await run(["import", "claude-code", "--json"]);
    expect(imported.code, imported.stderr).toBe(0);
    const report = JSON.parse(imported.stdout) as {
      committed: boolean;
      path: string;
      changes: { action: string; label: string }[];
    };
    expect(report).toMatchObject({
      committed: true,
      path: claudePath,
      changes: [{ action: "added", label: "claude-code" }],
    });

    const again = await run(["import", "claude-code"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Already in the pool: anthropic/claude-code.");

    const borrowed = await run(["refresh", "claude-code"]);
    expect(borrowed.code).toBe(12);
    expect(borrowed.stderr).toMatch(/borrowed from .*Claude Code refreshes it/);
    expect(server.calls).toHaveLength(0);

    const owned = await run(["import", "claude-code", "--own"]);
    expect(owned.code, owned.stderr).toBe(0);
    expect(owned.stdout).toContain("is now owned");

    const refreshed = await run(["refresh", "claude-code", "--json"]);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(JSON.parse(refreshed.stdout)).toMatchObject({ outcome: "refreshed", ownership: "own", tokenGeneration: 1 });
    expect(server.calls).toHaveLength(1);
    const issued = server.current(tokens.family);
    const file = JSON.parse(await readFile(claudePath, "utf8")) as { claudeAiOauth: Record<string, unknown> };
    expect(file.claudeAiOauth).toMatchObject({
      accessToken: issued.accessToken,
      refreshToken: issued.refreshToken,
      subscriptionType: "max",
    });

    const notDue = await run(["refresh", "claude-code"]);
    expect(notDue.code).toBe(0);
    expect(notDue.stdout).toMatch(/not due for a refresh/);
    expect(server.calls).toHaveLength(1);
    server.assertNoReuse();
    expectNoTokenPrinted(tokens, issued);
  });

  it("says a valid borrowed login is its owner's to refresh when --force asks, and sends nothing", async () => {
    const tokens = server.issue();
    await writeClaude(tokens, Date.now() + 3_600_000);
    expect((await run(["import", "claude-code"])).code).toBe(0);
    const forced = await run(["refresh", "claude-code", "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`is borrowed from ${claudePath}`);
    expect(forced.stdout).toContain("credpool import claude-code --own");
    expect(forced.stdout).not.toMatch(/Use --force/);
    expect(server.calls).toHaveLength(0);
    expectNoTokenPrinted(tokens);
  });

  it("syncs files and the environment in one commit, writes nothing the second time, and reports a broken source", async () => {
    const tokens = server.issue();
    await writeClaude(tokens, Date.now() + 3_600_000);
    const first = await run(["sync"], { OPENROUTER_API_KEY: "sk-or-v1-cli-test-key" });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("added anthropic/claude-code (from claude-code)");
    expect(first.stdout).toContain("added openrouter/env-openrouter (from env:OPENROUTER_API_KEY)");
    const rev = (await doc()).rev;

    const second = await run(["sync"], { OPENROUTER_API_KEY: "sk-or-v1-cli-test-key" });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("nothing was written");
    expect((await doc()).rev).toBe(rev);

    // A re-login in Claude Code and a half-written Codex file: the first is adopted, the second is reported.
    const relogin = server.issue();
    await writeClaude(relogin, Date.now() + 3_600_000);
    await writeFile(codexPath, '{"tokens": {');
    const third = await run(["sync"]);
    expect(third.code).toBe(14);
    expect(third.stdout).toContain("updated anthropic/claude-code (new tokens)");
    expect(third.stderr).toContain(codexPath);
    const claude = listCredentials(await doc()).find((credential) => credential.source === "claude-code");
    expect(claude?.secrets.refreshToken).toBe(relogin.refreshToken);
    expect(printed.join("\n")).not.toContain("sk-or-v1-cli-test-key");
    expectNoTokenPrinted(tokens, relogin);
  });

  it("refreshes a custom provider at the tokenUrl set under refresh.providers in config.json, as the README says", async () => {
    const tokens = server.issue();
    await pool.seed([
      {
        provider: "custom:idp",
        kind: "oauth",
        label: "idp",
        baseUrl: "https://idp.example/v1",
        secrets: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() - 60_000 },
      },
    ]);
    await writeFile(
      join(dirname(pool.path), "config.json"),
      JSON.stringify({
        refresh: { providers: { "custom:idp": { tokenUrl: server.tokenUrl, clientId: "idp-client" } } },
      }),
      { mode: 0o600 },
    );
    const refreshed = await run(["refresh", "idp", "--json"]);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(JSON.parse(refreshed.stdout)).toMatchObject({
      provider: "custom:idp",
      outcome: "refreshed",
      tokenGeneration: 1,
    });
    expect(server.calls).toEqual([
      expect.objectContaining({ bodyStyle: "form", clientId: "idp-client", outcome: expect.any(String) as string }),
    ]);
    expect(refreshed.stderr).toBe("");
    expectNoTokenPrinted(tokens, server.current(tokens.family));
  });

  it("rejects misuse with exit 2 and a missing source file with exit 14", async () => {
    const both = await run(["import", "claude-code", "--own", "--borrow"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--own and --borrow exclude each other");
    const hermesOwn = await run(["import", "hermes", "--own"]);
    expect(hermesOwn.code).toBe(2);
    const unknown = await run(["import", "dropbox"]);
    expect(unknown.code).toBe(2);
    const missing = await run(["import", "codex"]);
    expect(missing.code).toBe(14);
    expect(missing.stderr).toContain(`No Codex credentials at ${codexPath}`);
    const noVars = await run(["import", "env"]);
    expect(noVars.code).toBe(14);
  });
});
