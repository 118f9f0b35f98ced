// Group commit: concurrent update() calls in one process share a lock acquisition and a write.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, spawnChild, startTogether, type TempDir } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/group-commit-writer.mjs", import.meta.url));

interface GroupCommitReport {
  done: boolean;
  writes: Array<{ rev: number; updates: number }>;
  rejected: unknown[];
  missingFromResolvedDoc: number[];
  notOnDiskAtResolve: number[];
}

describe("group commit", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it("applies all 500 concurrent updates of one process in far fewer writes, with rev equal to the write count", async () => {
    dir = await createTempDir();
    const pool = dir.file("pool.json");
    const child = spawnChild(writer, ["--pool", pool, "--updates", "500"]);
    await startTogether([child]);
    const report = await child.waitFor<GroupCommitReport>((m) => m.done, 60_000);
    expect((await child.exited).code).toBe(0);

    expect(report.rejected).toEqual([]);
    expect(report.missingFromResolvedDoc).toEqual([]);
    expect(report.notOnDiskAtResolve).toEqual([]);

    const backend = createFileBackend({ path: pool });
    const { doc } = await backend.read();
    await backend.close();
    const applied = (doc.applied as number[]).slice().sort((a, b) => a - b);
    expect(applied).toEqual(Array.from({ length: 500 }, (_, i) => i));

    // Counted through the onWrite test hook: every write carried many updates, and each write was one rev.
    expect(report.writes.length).toBeGreaterThan(0);
    expect(report.writes.length).toBeLessThan(50);
    expect(report.writes.reduce((sum, write) => sum + write.updates, 0)).toBe(500);
    expect(report.writes.map((write) => write.rev)).toEqual(report.writes.map((_, i) => i + 1));
    expect(doc.rev).toBe(report.writes.length);
  });
});
