// Watching source files: a file created later (in a directory that does not exist yet) and a re-login are both
// picked up from file events, without waiting for the slow poll.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createFileBackend,
  listCredentials,
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
    await writeFile(path, JSON.stringify({ claudeAiOauth: { accessToken: "at-1", refreshToken: "rt-1", expiresAt: Date.now() + 3_600_000 } }));
    await created;
    expect(listCredentials((await backend.read()).doc)[0]?.secrets.refreshToken).toBe("rt-1");

    const relogin = nextCommit(syncs);
    await writeFile(`${path}.tmp`, JSON.stringify({ claudeAiOauth: { accessToken: "at-2", refreshToken: "rt-2", expiresAt: Date.now() + 3_600_000 } }));
    await rename(`${path}.tmp`, path);
    await relogin;
    const [credential] = listCredentials((await backend.read()).doc);
    expect(credential?.secrets.refreshToken).toBe("rt-2");
    expect(credential?.tokenGeneration).toBe(1);
    expect(errors).toEqual([]);
  });
});
