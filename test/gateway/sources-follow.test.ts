// A running gateway follows the files its borrowed credentials are linked to. Claude Code and Codex rewrite theirs
// by writing a new file and renaming it over the old one; the gateway's next lease carries the new token, a re-login
// brings a dead credential back, and a rewrite that changes nothing commits nothing.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createFileBackend, listCredentials, type Credential } from "@credpool/pool-core";
import { createTokenStore, type LeaseGrant } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const CLI_BIN = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));
// Only a guard against a hang: the watcher is expected well inside it.
const ADOPT_GUARD_MS = 15_000;

interface LogMessage {
  readonly event?: string;
  readonly rev?: number;
  readonly changes?: readonly { credentialId?: string }[];
}

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.fake-signature`;
}

interface Pair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresAt: number;
}

function claudePair(): Pair {
  return {
    accessToken: `sk-ant-oat01-FOLLOW${randomBytes(18).toString("base64url")}`,
    refreshToken: `sk-ant-ort01-FOLLOW${randomBytes(18).toString("base64url")}`,
    expiresAt: Date.now() + 3_600_000,
  };
}

function codexPair(): Pair {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return {
    accessToken: fakeJwt({ sub: "acct-follow", exp, nonce: randomBytes(12).toString("hex") }),
    refreshToken: `rt-follow-${randomBytes(18).toString("hex")}`,
    expiresAt: exp * 1000,
  };
}

/** What Claude Code and Codex do: write the whole file beside the old one, then rename it over. */
async function replaceFile(path: string, json: unknown): Promise<void> {
  const temp = `${path}.tmp.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(temp, JSON.stringify(json), { mode: 0o600 });
  await rename(temp, path);
}

function claudeFile(pair: Pair): unknown {
  return {
    claudeAiOauth: {
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      expiresAt: pair.expiresAt,
      scopes: ["user:inference"],
    },
  };
}

function codexFile(pair: Pair): unknown {
  return {
    OPENAI_API_KEY: null,
    tokens: {
      id_token: fakeJwt({ sub: "acct-follow" }),
      access_token: pair.accessToken,
      refresh_token: pair.refreshToken,
      account_id: "acct-follow",
    },
    last_refresh: new Date(pair.expiresAt - 3_600_000).toISOString(),
  };
}

describe("a gateway following its linked source files", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await dir?.remove();
  });

  it("leases the new token after Claude Code or Codex renames a new file over theirs, revives a dead login, and commits nothing for an unchanged file", async () => {
    dir = await createTempDir("credpool-sources-follow-");
    const poolPath = dir.file("pool.json");
    const claudeDir = join(dir.path, "home", ".claude");
    const codexDir = join(dir.path, "home", ".codex");
    await mkdir(claudeDir, { recursive: true });
    await mkdir(codexDir, { recursive: true });
    const claudePath = join(claudeDir, ".credentials.json");
    const codexPath = join(codexDir, "auth.json");
    const env: NodeJS.ProcessEnv = {
      HOME: join(dir.path, "home"),
      CLAUDE_CONFIG_DIR: claudeDir,
      CODEX_HOME: codexDir,
      ANTHROPIC_API_KEY: "",
      OPENAI_API_KEY: "",
      OPENROUTER_API_KEY: "",
    };
    const secrets: string[] = [];
    const remember = <T extends Pair>(pair: T): T => {
      secrets.push(pair.accessToken, pair.refreshToken);
      return pair;
    };

    const claude1 = remember(claudePair());
    const codex1 = remember(codexPair());
    await replaceFile(claudePath, claudeFile(claude1));
    await replaceFile(codexPath, codexFile(codex1));
    const credpool = (...args: string[]) =>
      promisify(execFile)(process.execPath, [CLI_BIN, "--pool", poolPath, ...args], {
        env: { ...process.env, ...env, NO_COLOR: "1" },
      });
    await credpool("init");
    await credpool("import", "claude-code");
    await credpool("import", "codex");
    const tokens = createTokenStore({ dir: dir.path });
    const { token } = await tokens.create("worker", "lease");
    await tokens.close();
    secrets.push(token);

    const backend = createFileBackend({ path: poolPath, createIfMissing: false });
    const credentialOf = async (provider: string): Promise<Credential> => {
      const found = listCredentials((await backend.read()).doc).find((credential) => credential.provider === provider);
      if (!found) throw new Error(`no ${provider} credential in the pool`);
      return found;
    };
    try {
      const claudeId = (await credentialOf("anthropic")).id;
      const codexId = (await credentialOf("openai-codex")).id;
      expect(await credentialOf("anthropic")).toMatchObject({ ownership: "borrow", sourcePath: claudePath });
      expect(await credentialOf("openai-codex")).toMatchObject({ ownership: "borrow", sourcePath: codexPath });

      gateway = await startGatewayProcess(poolPath, env);
      const { child, url } = gateway;
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const lease = async (
        provider: string,
      ): Promise<{ status: number; body: LeaseGrant & { error?: { code: string } } }> => {
        const response = await fetch(`${url}/v1/leases`, {
          method: "POST",
          headers,
          body: JSON.stringify({ provider }),
        });
        return { status: response.status, body: (await response.json()) as LeaseGrant & { error?: { code: string } } };
      };
      const release = async (leaseId: string, outcome: unknown): Promise<void> => {
        const response = await fetch(`${url}/v1/leases/${leaseId}/release`, {
          method: "POST",
          headers,
          body: JSON.stringify(outcome),
        });
        expect(response.status, await response.text()).toBe(200);
      };
      const leaseToken = async (provider: string): Promise<string> => {
        const granted = await lease(provider);
        expect(granted.status, JSON.stringify(granted.body)).toBe(201);
        await release(granted.body.leaseId, { outcome: "ok" });
        return granted.body.token;
      };
      const logs = (event: string): LogMessage[] =>
        (child.messages as LogMessage[]).filter((message) => message.event === event);
      /** The first log line of `event` printed after `seen` of them, matching `predicate`. */
      const nextLog = (event: string, seen: number, predicate: (message: LogMessage) => boolean = () => true) =>
        child.waitFor<LogMessage>(
          (message) => message.event === event && logs(event).indexOf(message) >= seen && predicate(message),
          ADOPT_GUARD_MS,
        );
      const adopted = async (credentialId: string, rewrite: () => Promise<void>): Promise<void> => {
        const seen = logs("sources.synced").length;
        await rewrite();
        await nextLog("sources.synced", seen, (message) =>
          (message.changes ?? []).some((change) => change.credentialId === credentialId),
        );
      };

      // The same content renamed over the file: the gateway looks, and writes nothing. Nothing has leased yet, so
      // nothing else can have moved `rev`.
      const revBefore = (await backend.read()).rev;
      const checked = logs("sources.unchanged").length;
      await replaceFile(claudePath, claudeFile(claude1));
      await nextLog("sources.unchanged", checked);
      expect((await backend.read()).rev).toBe(revBefore);

      expect(await leaseToken("anthropic")).toBe(claude1.accessToken);
      expect(await leaseToken("openai-codex")).toBe(codex1.accessToken);

      // Claude Code refreshed: a new pair renamed over the file.
      const claude2 = remember(claudePair());
      await adopted(claudeId, () => replaceFile(claudePath, claudeFile(claude2)));
      expect(await leaseToken("anthropic")).toBe(claude2.accessToken);

      // So did Codex.
      const codex2 = remember(codexPair());
      await adopted(codexId, () => replaceFile(codexPath, codexFile(codex2)));
      expect(await leaseToken("openai-codex")).toBe(codex2.accessToken);

      // The provider revokes the login: the credential is dead and nothing is leased.
      const doomed = await lease("anthropic");
      expect(doomed.status).toBe(201);
      await release(doomed.body.leaseId, { outcome: "error", status: 401, message: "token_revoked" });
      expect((await credentialOf("anthropic")).status.state).toBe("dead");
      const refused = await lease("anthropic");
      expect(refused.status).toBe(503);
      expect(refused.body.error?.code).toBe("E_NO_CREDENTIAL");

      // The user logs in to Claude Code again: a new pair brings it back.
      const claude3 = remember(claudePair());
      await adopted(claudeId, () => replaceFile(claudePath, claudeFile(claude3)));
      expect((await credentialOf("anthropic")).status.state).toBe("ok");
      expect(await leaseToken("anthropic")).toBe(claude3.accessToken);

      child.kill("SIGTERM");
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect(findSecretLines(child, secrets)).toEqual([]);
    } finally {
      await backend.close();
    }
  });
});
