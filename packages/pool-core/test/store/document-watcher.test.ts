// What a commit costs a watching process: each check re-reads (stats, at least) the document, and with a hundred
// watching processes every check is paid a hundred times. See bench/lib/fanout.mjs.
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileBackend, type FileBackend } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { watchDocument, type DocumentWatcher } from "../../src/store/document-watcher.js";

const TRAILING_MS = 30;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("document watcher", () => {
  let dir: TempDir;
  let writer: FileBackend;
  let watcher: DocumentWatcher | undefined;
  let checks = 0;

  beforeEach(async () => {
    dir = await createTempDir();
    writer = createFileBackend({ path: dir.file("pool.json") });
    await writer.update((draft) => {
      draft.stampedRev = 1;
    });
    checks = 0;
  });

  afterEach(async () => {
    await watcher?.close();
    watcher = undefined;
    await writer.close();
    await dir.remove();
  });

  async function startWatching(): Promise<void> {
    watcher = watchDocument({
      path: dir.file("pool.json"),
      trailingRecheckMs: TRAILING_MS,
      // Out of reach: every check below comes from a directory event or its trailing re-check.
      pollIntervalMs: 600_000,
      check: () => {
        checks++;
        return Promise.resolve();
      },
    });
    await watcher.ready;
    await sleep(100);
    checks = 0;
  }

  it("checks a commit once, plus the trailing re-check: lock, temp and backup entries are no hints", async () => {
    await startWatching();
    const commits = 6;
    for (let i = 0; i < commits; i++) {
      await writer.update((draft) => {
        draft.stampedRev = draft.rev + 1;
      });
      await sleep(TRAILING_MS * 4);
    }
    // Each commit renames onto the document once. The backup's hard link changes the document's inode (its link
    // count); chokidar watched that inode as well, and each commit cost every watcher about four checks.
    expect(checks).toBeGreaterThanOrEqual(commits);
    expect(checks).toBeLessThanOrEqual(commits * 2);
  });

  it("is told of a write in place (an editor that does not rename)", async () => {
    await startWatching();
    const text = readFileSync(dir.file("pool.json"), "utf8");
    await writeFile(dir.file("pool.json"), text.replace('"stampedRev": 1', '"stampedRev": 2'));
    await sleep(TRAILING_MS * 4);
    expect(checks).toBeGreaterThanOrEqual(1);
  });
});
