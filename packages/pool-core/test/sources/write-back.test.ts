// Writing refreshed tokens back into another tool's file: only over a spent token, keeping everything else.
import { lstat, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fingerprintToken, type Credential } from "@credpool/pool-core";
import { writeBackCredential } from "../../src/sources/index.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

function linked(
  path: string,
  kind: "claude-code" | "codex",
  secrets: Credential["secrets"],
  used: string[],
): Credential {
  return {
    id: "c1",
    label: kind,
    provider: kind === "codex" ? "openai-codex" : "anthropic",
    kind: "oauth",
    priority: 0,
    source: kind,
    sourcePath: path,
    ownership: "own",
    secrets,
    tokenGeneration: 1,
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
    refreshState: { usedTokenFps: used.map(fingerprintToken) },
  };
}

describe("writeBackCredential", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await createTempDir();
  });
  afterEach(async () => dir.remove());

  it("replaces the pair in a Claude Code file, keeping unknown fields, formatting and mode", async () => {
    const path = dir.file(".credentials.json");
    const original = {
      claudeAiOauth: {
        accessToken: "at-1",
        refreshToken: "rt-1",
        expiresAt: 1,
        scopes: ["user:inference"],
        subscriptionType: "max",
      },
      mcpOAuth: { server: { token: "keep-me" } },
    };
    await writeFile(path, `${JSON.stringify(original, null, 4)}\n`, { mode: 0o640 });
    const written = await writeBackCredential(
      linked(path, "claude-code", { accessToken: "at-2", refreshToken: "rt-2", expiresAt: 99 }, ["rt-1"]),
    );
    expect(written).toBe(true);
    const text = await readFile(path, "utf8");
    expect(text).toBe(
      `${JSON.stringify(
        {
          claudeAiOauth: {
            accessToken: "at-2",
            refreshToken: "rt-2",
            expiresAt: 99,
            scopes: ["user:inference"],
            subscriptionType: "max",
          },
          mcpOAuth: { server: { token: "keep-me" } },
        },
        null,
        4,
      )}\n`,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });

  it("writes through a symlink to a Codex file and leaves the symlink in place", async () => {
    const realDir = join(dir.path, "real");
    await mkdir(realDir);
    const target = join(realDir, "auth.json");
    const link = dir.file("auth.json");
    await writeFile(
      target,
      JSON.stringify({
        auth_mode: "chatgpt",
        OPENAI_API_KEY: null,
        tokens: { access_token: "at-1", refresh_token: "rt-1", id_token: "id-1", account_id: "acct" },
        extra: [1, 2],
      }),
      { mode: 0o600 },
    );
    await symlink(target, link);
    const now = Date.parse("2030-01-02T03:04:05.000Z");
    await writeBackCredential(
      linked(link, "codex", { accessToken: "at-2", refreshToken: "rt-2", idToken: "id-2", accountId: "acct" }, [
        "rt-1",
      ]),
      now,
    );
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(JSON.parse(await readFile(target, "utf8"))).toEqual({
      auth_mode: "chatgpt",
      OPENAI_API_KEY: null,
      tokens: { access_token: "at-2", refresh_token: "rt-2", id_token: "id-2", account_id: "acct" },
      extra: [1, 2],
      last_refresh: "2030-01-02T03:04:05.000Z",
    });
    expect((await stat(target)).mode & 0o777).toBe(0o600);
  });

  it("leaves a file alone when it holds a token the pool has not used: that is a newer login", async () => {
    const path = dir.file(".credentials.json");
    const text = JSON.stringify({
      claudeAiOauth: { accessToken: "at-relogin", refreshToken: "rt-relogin", expiresAt: 5 },
    });
    await writeFile(path, text);
    const written = await writeBackCredential(
      linked(path, "claude-code", { accessToken: "at-2", refreshToken: "rt-2" }, ["rt-1"]),
    );
    expect(written).toBe(false);
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("does not recreate a file the other tool deleted (logged out), and ignores borrowed credentials", async () => {
    const path = dir.file("missing.json");
    expect(
      await writeBackCredential(linked(path, "claude-code", { accessToken: "a", refreshToken: "b" }, ["rt-1"])),
    ).toBe(false);
    const borrowed = {
      ...linked(path, "claude-code", { accessToken: "a", refreshToken: "b" }, ["rt-1"]),
      ownership: "borrow",
    };
    expect(await writeBackCredential(borrowed)).toBe(false);
    await expect(stat(path)).rejects.toThrow();
  });
});
