// Failure 1 (lost updates): 8 processes increment one counter through update() at the same time.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, spawnChild, startTogether, type TempDir } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/counter-writer.mjs", import.meta.url));

describe("cross-process counter", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it("loses no update: 8 processes x 250 updates end at 2000 and each value 0..1999 was read exactly once", async () => {
    dir = await createTempDir();
    const pool = dir.file("pool.json");
    const children = Array.from({ length: 8 }, () =>
      spawnChild(writer, ["--pool", pool, "--updates", "250", "--concurrency", "8"]),
    );
    await startTogether(children);
    const results = await Promise.all(
      children.map((child) =>
        child.waitFor<{ done: boolean; values: number[]; writes: number }>((m) => m.done, 120_000),
      ),
    );
    const exits = await Promise.all(children.map((child) => child.exited));
    expect(exits.every((exit) => exit.code === 0)).toBe(true);

    const values = results.flatMap((result) => result.values).sort((a, b) => a - b);
    expect(values).toHaveLength(2000);
    expect(values).toEqual(Array.from({ length: 2000 }, (_, i) => i));

    const backend = createFileBackend({ path: pool });
    const { doc } = await backend.read();
    expect(doc.counter).toBe(2000);
    // Group commit: the processes shared writes, so there were fewer commits than updates.
    const writes = results.reduce((sum, result) => sum + result.writes, 0);
    expect(doc.rev).toBe(writes);
    await backend.close();
  });
});
