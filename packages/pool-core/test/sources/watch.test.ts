// Watching source files: a file created later (in a directory that does not exist yet) and a re-login are both
// picked up from file events, without waiting for the slow poll.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createFileBackend,
  listCredentials,
  syncSources,
  watchLinkedSources,
  watchSources,
  type FileBackend,
  type SourceWatcher,
  type SyncResult,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

describe("watchSources", () => {
  let dir: TempDir;
  let backend: FileBackend;
  let watcher: SourceWatcher | undefined;

  beforeEach(async () => {
    dir = await createTempDir();
    backend = createFileBackend({ path: dir.file("pool.json") });
  });
  afterEach(async () => {
    await watcher?.close();
    await backend.close();
    await dir.remove();
  });

  function nextCommit(syncs: SyncResult[], timeoutMs = 5000): Promise<SyncResult> {
    const seen = syncs.length;
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const timer = setInterval(() => {
        const found = syncs.slice(seen).find((result) => result.committed);
        if (found) {
          clearInterval(timer);
          resolve(found);
        } else if (Date.now() - started > timeoutMs) {
          clearInterval(timer);
          reject(new Error(`no committing sync within ${timeoutMs} ms`));
        }
      }, 10);
    });
  }

  it("adopts a file created later in a directory that did not exist, then a re-login written by rename", async () => {
    const claudeDir = join(dir.path, "home", ".claude");
    const path = join(claudeDir, ".credentials.json");
    const syncs: SyncResult[] = [];
    const errors: unknown[] = [];
    // A poll far beyond the test's patience: only file events can make this pass.
    watcher = watchSources(backend, {
      specs: [{ kind: "claude-code", path }],
      env: {},
      pollIntervalMs: 600_000,
      onSync: (result) => syncs.push(result),
      onError: (error) => errors.push(error),
    });
    await watcher.ready;
    expect(listCredentials((await backend.read()).doc)).toHaveLength(0);

    const created = nextCommit(syncs);
    await mkdir(claudeDir, { recursive: true });
    await writeFile(
      path,
      JSON.stringify({
        claudeAiOauth: { accessToken: "at-1", refreshToken: "rt-1", expiresAt: Date.now() + 3_600_000 },
      }),
    );
    await created;
    expect(listCredentials((await backend.read()).doc)[0]?.secrets.refreshToken).toBe("rt-1");

    const relogin = nextCommit(syncs);
    await writeFile(
      `${path}.tmp`,
      JSON.stringify({
        claudeAiOauth: { accessToken: "at-2", refreshToken: "rt-2", expiresAt: Date.now() + 3_600_000 },
      }),
    );
    await rename(`${path}.tmp`, path);
    await relogin;
    const [credential] = listCredentials((await backend.read()).doc);
    expect(credential?.secrets.refreshToken).toBe("rt-2");
    expect(credential?.tokenGeneration).toBe(1);
    expect(errors).toEqual([]);
  });

  it("follows only linked files: adds nothing by itself, and watches a file another process links later", async () => {
    const claudeDir = join(dir.path, "home", ".claude");
    const defaultPath = join(claudeDir, ".credentials.json");
    const linkedPath = join(dir.path, "agent", ".credentials.json");
    await mkdir(claudeDir, { recursive: true });
    await mkdir(join(dir.path, "agent"), { recursive: true });
    const pair = (n: number) =>
      JSON.stringify({
        claudeAiOauth: { accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresAt: Date.now() + 3_600_000 },
      });
    await writeFile(defaultPath, pair(0));
    const syncs: SyncResult[] = [];
    const errors: unknown[] = [];
    // An empty pool: nothing to watch yet, and the watcher still becomes ready. Only events (no poll) can drive it.
    watcher = watchLinkedSources(backend, {
      env: { CLAUDE_CONFIG_DIR: claudeDir },
      pollIntervalMs: 600_000,
      onSync: (result) => syncs.push(result),
      onError: (error) => errors.push(error),
    });
    await watcher.ready;
    expect(listCredentials((await backend.read()).doc)).toHaveLength(0);

    // Another process imports a file; the running watcher learns of the link from the pool, not from a file event.
    await writeFile(linkedPath, pair(1));
    const importer = createFileBackend({ path: dir.file("pool.json") });
    try {
      await syncSources(importer, [{ kind: "claude-code", path: linkedPath }], { env: {} });
    } finally {
      await importer.close();
    }
    const linked = (await backend.read()).doc;
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (syncs.some((result) => result.rev >= linked.rev)) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });

    const relogin = nextCommit(syncs);
    await writeFile(`${linkedPath}.tmp`, pair(2));
    await rename(`${linkedPath}.tmp`, linkedPath);
    await relogin;
    const credentials = listCredentials((await backend.read()).doc);
    expect(credentials.map((credential) => credential.secrets.refreshToken)).toEqual(["rt-2"]);
    expect(errors).toEqual([]);
  });
});
