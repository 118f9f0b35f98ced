// Sync semantics in one process: one commit per sync, nothing written when nothing changed, no deletions, stale
// writers ignored, re-logins adopted. The multi-process checks are in test/refresh/sync.test.ts.
import { utimes, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createFileBackend,
  fingerprintToken,
  listCredentials,
  openPool,
  refreshStateOf,
  syncSources,
  type Credential,
  type FileBackend,
  type PoolDocument,
  type SourceSpec,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

const HOUR = 3_600_000;

describe("syncSources", () => {
  let dir: TempDir;
  let backend: FileBackend;
  let writes: number;
  let claudePath: string;
  let codexPath: string;
  let specs: SourceSpec[];

  beforeEach(async () => {
    dir = await createTempDir();
    writes = 0;
    backend = createFileBackend({ path: dir.file("pool.json"), hooks: { onWrite: () => writes++ } });
    claudePath = dir.file("claude-credentials.json");
    codexPath = dir.file("codex-auth.json");
    specs = [{ kind: "claude-code", path: claudePath }, { kind: "codex", path: codexPath }, { kind: "env" }];
  });
  afterEach(async () => {
    await backend.close();
    await dir.remove();
  });

  async function writeClaude(accessToken: string, refreshToken: string, expiresAt = Date.now() + HOUR): Promise<void> {
    await writeFile(
      claudePath,
      JSON.stringify({ claudeAiOauth: { accessToken, refreshToken, expiresAt, scopes: ["user:inference"] } }),
    );
  }

  async function writeCodex(accessToken: string, refreshToken: string): Promise<void> {
    await writeFile(
      codexPath,
      JSON.stringify({
        OPENAI_API_KEY: null,
        tokens: { access_token: accessToken, refresh_token: refreshToken, id_token: "id", account_id: "acct" },
      }),
    );
  }

  async function doc(): Promise<PoolDocument> {
    return (await backend.read()).doc;
  }

  function bySource(current: PoolDocument, source: string): Credential {
    const found = listCredentials(current).find((credential) => credential.source === source);
    if (!found) throw new Error(`no credential from ${source}`);
    return found;
  }

  it("adds every source in one commit, and a repeated sync writes nothing", async () => {
    await writeClaude("at-c1", "rt-c1");
    await writeCodex("at-x1", "rt-x1");
    const env = { ANTHROPIC_API_KEY: "sk-ant-api-1", OPENROUTER_API_KEY: "sk-or-1" };
    const first = await syncSources(backend, specs, { env });
    expect(first.committed).toBe(true);
    expect(writes).toBe(1);
    const after = await doc();
    expect(after.rev).toBe(1);
    expect(
      listCredentials(after)
        .map((c) => c.source)
        .sort(),
    ).toEqual(["claude-code", "codex", "env:ANTHROPIC_API_KEY", "env:OPENROUTER_API_KEY"]);
    expect(bySource(after, "claude-code")).toMatchObject({
      ownership: "borrow",
      sourcePath: claudePath,
      kind: "oauth",
      provider: "anthropic",
    });

    const second = await syncSources(backend, specs, { env });
    expect(second.committed).toBe(false);
    expect(writes).toBe(1);
    expect((await doc()).rev).toBe(1);
  });

  it("never deletes a credential because a file or variable is missing here", async () => {
    await writeClaude("at-c1", "rt-c1");
    await syncSources(backend, specs, { env: { ANTHROPIC_API_KEY: "sk-ant-api-1" } });
    const before = await doc();
    const result = await syncSources(backend, [{ kind: "claude-code", path: dir.file("gone.json") }, { kind: "env" }], {
      env: {},
    });
    expect(result.committed).toBe(false);
    expect(await doc()).toEqual(before);
  });

  it("adds a different value of the same variable from another process instead of flip-flopping", async () => {
    await syncSources(backend, [{ kind: "env" }], { env: { OPENAI_API_KEY: "sk-a" } });
    await syncSources(backend, [{ kind: "env" }], { env: { OPENAI_API_KEY: "sk-b" } });
    await syncSources(backend, [{ kind: "env" }], { env: { OPENAI_API_KEY: "sk-a" } });
    const keys = listCredentials(await doc(), "openai").map((credential) => credential.secrets.apiKey);
    expect(keys).toEqual(["sk-a", "sk-b"]);
    expect(writes).toBe(2);
  });

  it("adopts a re-login from the file, bumps tokenGeneration and clears a dead status", async () => {
    await writeClaude("at-c1", "rt-c1");
    await syncSources(backend, specs, { env: {} });
    await backend.update((current) => {
      const credential = bySource(current, "claude-code");
      credential.status = { state: "dead", reason: "invalid_grant", message: "log in again" };
    });
    await writeClaude("at-c2", "rt-c2");
    const result = await syncSources(backend, specs, { env: {} });
    expect(result.committed).toBe(true);
    const credential = bySource(await doc(), "claude-code");
    expect(credential.secrets).toMatchObject({ accessToken: "at-c2", refreshToken: "rt-c2" });
    expect(credential.tokenGeneration).toBe(1);
    expect(credential.status.state).toBe("ok");
    expect(credential.statusClearedAt).toBeGreaterThan(0);
    // The replaced token can never be put back by a stale writer.
    expect(refreshStateOf(credential).usedTokenFps).toContain(fingerprintToken("rt-c1"));
  });

  it("keeps a re-login alive when a request that started on the old token fails afterwards", async () => {
    await writeClaude("at-c1", "rt-c1");
    await syncSources(backend, specs, { env: {} });
    const pool = await openPool({ backend });
    try {
      const lease = await pool.lease("anthropic");
      await backend.update((current) => {
        bySource(current, "claude-code").status = { state: "dead", reason: "token_revoked" };
      });
      await writeClaude("at-c2", "rt-c2");
      await syncSources(backend, specs, { env: {} });
      // The old token's request comes back 401 token_revoked after the new login was adopted.
      await lease.release({ error: { status: 401, reason: "token_revoked", message: "token_revoked" } });
      expect(bySource(await doc(), "claude-code").status.state).toBe("ok");
    } finally {
      await pool.close();
    }
  });

  it("ignores a read of the file older than the version already adopted", async () => {
    await writeClaude("at-c2", "rt-c2");
    await syncSources(backend, specs, { env: {} });
    // A slow process read the previous version before the current one was adopted.
    await writeClaude("at-c1", "rt-c1");
    const past = new Date(Date.now() - 60_000);
    await utimes(claudePath, past, past);
    const result = await syncSources(backend, specs, { env: {} });
    expect(result.committed).toBe(false);
    expect(result.changes.find((change) => change.source === "claude-code")?.reason).toMatch(/older read/);
    expect(bySource(await doc(), "claude-code").secrets.refreshToken).toBe("rt-c2");
  });

  it("never puts back a refresh token the pool has already used, even from a newer file", async () => {
    await writeClaude("at-c1", "rt-c1");
    await syncSources(backend, specs, { env: {} });
    // credpool refreshed rt-c1 -> rt-c2 (the file still holds rt-c1, e.g. Claude Code wrote its stale copy back).
    await backend.update((current) => {
      const credential = bySource(current, "claude-code");
      credential.secrets = { ...credential.secrets, accessToken: "at-c2", refreshToken: "rt-c2" };
      credential.tokenGeneration += 1;
      credential.refreshState = { usedTokenFps: [fingerprintToken("rt-c1")] };
    });
    await writeClaude("at-c1", "rt-c1");
    const result = await syncSources(backend, specs, { env: {} });
    expect(result.committed).toBe(false);
    expect(result.changes.find((change) => change.source === "claude-code")).toMatchObject({ staleFile: true });
    expect(bySource(await doc(), "claude-code").secrets.refreshToken).toBe("rt-c2");
  });

  it("still applies the readable sources when one is corrupt, and reports the broken one", async () => {
    await writeClaude("at-c1", "rt-c1");
    await writeFile(codexPath, "{ not json");
    const result = await syncSources(backend, specs, { env: {} });
    expect(result.committed).toBe(true);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.message).toContain(codexPath);
    expect(listCredentials(await doc()).map((credential) => credential.source)).toEqual(["claude-code"]);
  });

  it("changes ownership only when the import asks for it explicitly", async () => {
    await writeClaude("at-c1", "rt-c1");
    await syncSources(backend, specs, { env: {} });
    await syncSources(backend, [{ kind: "claude-code", path: claudePath, ownership: "own" }], { env: {} });
    expect(bySource(await doc(), "claude-code").ownership).toBe("own");
    // A plain sync (no explicit ownership) leaves it as imported.
    const again = await syncSources(backend, specs, { env: {} });
    expect(again.committed).toBe(false);
    expect(bySource(await doc(), "claude-code").ownership).toBe("own");
  });
});
