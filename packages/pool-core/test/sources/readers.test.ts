// Source readers: where each file lives, what it maps to, and that broken files are errors, never "empty".
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isPoolError } from "@credpool/pool-core";
import {
  parseClaudeCodeFile,
  parseCodexFile,
  readEnvCandidates,
  readSource,
  readSourceFile,
  resolveClaudeCodePath,
  resolveCodexPath,
  resolveEnvMap,
  resolveHermesPath,
  type SourceFile,
} from "../../src/sources/index.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part(claims)}.sig`;
}

function file(json: unknown, path = "/x/creds.json"): SourceFile {
  return { path, json, text: JSON.stringify(json), mtimeMs: 1000 };
}

describe("source paths", () => {
  it("finds Claude Code's file under $CLAUDE_CONFIG_DIR, else ~/.claude", () => {
    expect(resolveClaudeCodePath({ CLAUDE_CONFIG_DIR: "/cfg/claude", HOME: "/home/u" })).toBe(
      "/cfg/claude/.credentials.json",
    );
    expect(resolveClaudeCodePath({ HOME: "/home/u" })).toBe("/home/u/.claude/.credentials.json");
  });

  it("finds Codex's file under $CODEX_HOME, else ~/.codex, and hermes under $HERMES_HOME, else ~/.hermes", () => {
    expect(resolveCodexPath({ CODEX_HOME: "/cfg/codex", HOME: "/home/u" })).toBe("/cfg/codex/auth.json");
    expect(resolveCodexPath({ HOME: "/home/u" })).toBe("/home/u/.codex/auth.json");
    expect(resolveHermesPath({ HOME: "/home/u" })).toBe("/home/u/.hermes/auth.json");
  });
});

describe("Claude Code reader", () => {
  it("maps claudeAiOauth to a borrowed anthropic OAuth candidate with expiresAt in milliseconds", () => {
    const [candidate, ...rest] = parseClaudeCodeFile(
      file({
        claudeAiOauth: {
          accessToken: "sk-ant-oat01-a",
          refreshToken: "sk-ant-ort01-r",
          expiresAt: 1_748_658_860_401,
          scopes: ["user:inference"],
          subscriptionType: "max",
        },
      }),
    );
    expect(rest).toHaveLength(0);
    expect(candidate).toMatchObject({
      provider: "anthropic",
      kind: "oauth",
      source: "claude-code",
      sourcePath: "/x/creds.json",
      secrets: { accessToken: "sk-ant-oat01-a", refreshToken: "sk-ant-ort01-r", expiresAt: 1_748_658_860_401 },
      extra: { sourceMeta: { subscriptionType: "max", scopes: ["user:inference"] } },
    });
  });

  it("offers nothing for a logged-out file and rejects a wrongly shaped one", () => {
    expect(parseClaudeCodeFile(file({ other: 1 }))).toEqual([]);
    expect(() => parseClaudeCodeFile(file({ claudeAiOauth: { accessToken: 5 } }))).toThrow(
      /accessToken is not a string/,
    );
    expect(() => parseClaudeCodeFile(file([1]))).toThrow(/not a Claude Code credentials file/);
  });
});

describe("Codex reader", () => {
  it("takes expiry from the access token's JWT exp and the account from the id token", () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const accessToken = fakeJwt({ exp });
    const idToken = fakeJwt({ "https://api.openai.com/auth": { chatgpt_account_id: "acct-7" } });
    const candidates = parseCodexFile(
      file({
        auth_mode: "chatgpt",
        OPENAI_API_KEY: null,
        tokens: { id_token: idToken, access_token: accessToken, refresh_token: "rt" },
        last_refresh: "2025-01-01T00:00:00Z",
      }),
    );
    expect(candidates).toHaveLength(1);
    expect(candidates[0]).toMatchObject({
      provider: "openai-codex",
      source: "codex",
      secrets: { accessToken, refreshToken: "rt", idToken, accountId: "acct-7", expiresAt: exp * 1000 },
    });
  });

  it("maps an API-key login to an openai api_key candidate", () => {
    const candidates = parseCodexFile(file({ OPENAI_API_KEY: "sk-proj-123" }));
    expect(candidates).toEqual([
      expect.objectContaining({ provider: "openai", kind: "api_key", secrets: { apiKey: "sk-proj-123" } }),
    ]);
  });
});

describe("environment reader", () => {
  it("reads the default variables and skips empty ones", () => {
    const { candidates } = readEnvCandidates(resolveEnvMap(undefined, {}), {
      ANTHROPIC_API_KEY: "sk-ant-1",
      OPENAI_API_KEY: " ",
    });
    expect(candidates).toEqual([
      expect.objectContaining({
        provider: "anthropic",
        kind: "api_key",
        source: "env:ANTHROPIC_API_KEY",
        secrets: { apiKey: "sk-ant-1" },
      }),
    ]);
  });

  it("takes a configurable map from CREDPOOL_ENV_SOURCES and rejects malformed entries", () => {
    expect(resolveEnvMap(undefined, { CREDPOOL_ENV_SOURCES: "MY_KEY=openrouter, OTHER=groq" })).toEqual({
      MY_KEY: "openrouter",
      OTHER: "groq",
    });
    expect(() => resolveEnvMap(undefined, { CREDPOOL_ENV_SOURCES: "oops" })).toThrow(/VAR=provider/);
  });
});

describe("reading source files", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await createTempDir();
  });
  afterEach(async () => dir.remove());

  it("returns null for a missing file, and reports a missing source as such", async () => {
    expect(await readSourceFile(dir.file("nope.json"))).toBeNull();
    const reading = await readSource({ kind: "codex", path: dir.file("nope.json") });
    expect(reading).toMatchObject({ state: "missing", candidates: [] });
  });

  it("rides out a torn write in progress", async () => {
    const path = dir.file("auth.json");
    await writeFile(path, '{"tokens": {"access_tok');
    const finishing = new Promise<void>((resolve) => {
      setTimeout(
        () =>
          void writeFile(path, JSON.stringify({ tokens: { access_token: "a", refresh_token: "r" } })).then(() =>
            resolve(),
          ),
        30,
      );
    });
    const read = await readSourceFile(path);
    await finishing;
    expect(read?.json).toEqual({ tokens: { access_token: "a", refresh_token: "r" } });
  });

  it("reports lasting corruption as E_SOURCE naming the file, and leaves the file untouched", async () => {
    const path = dir.file("auth.json");
    await writeFile(path, '{"tokens": ');
    const reading = await readSource({ kind: "codex", path });
    expect(reading.state).toBe("error");
    expect(reading.error?.code).toBe("E_SOURCE");
    expect(reading.error?.message).toContain(path);
    expect(await readFile(path, "utf8")).toBe('{"tokens": ');
  });

  it.skipIf(process.getuid?.() === 0)("reports an unreadable file as E_SOURCE, not as an empty source", async () => {
    const nested = join(dir.path, "claude");
    await mkdir(nested);
    const path = join(nested, ".credentials.json");
    await writeFile(path, JSON.stringify({ claudeAiOauth: { accessToken: "a", refreshToken: "r" } }));
    await chmod(path, 0o000);
    try {
      await readSourceFile(path);
      throw new Error("expected a failure");
    } catch (error) {
      expect(isPoolError(error, "E_SOURCE")).toBe(true);
      expect((error as Error).message).toMatch(/EACCES/);
    } finally {
      await chmod(path, 0o600);
    }
  });
});
