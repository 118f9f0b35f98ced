// A large document's commit in the worker frees the revision before the backup beside the write: that revision
// keeps a temp name (`<file>.bak.<hex>.tmp`) meanwhile. Killed at any step, the file and its backup stay whole and
// the next writer removes the temp name. Crashes come from a preload (test/children/fs-crash.mjs).
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, spawnChild } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/step-writer.mjs", import.meta.url));
const crashPreload = fileURLToPath(new URL("../children/fs-crash.mjs", import.meta.url));

/**
 * Commits a document of about 1.3 MB (over the worker's 1 MiB threshold) twice, so that a backup exists: rev 1 as
 * `marker: "first"`, then rev 2 as "old". Returns the bytes of rev 2.
 */
async function seedLargePool(pool: string): Promise<Buffer> {
  const setup = createFileBackend({ path: pool });
  await setup.update((doc) => {
    doc.marker = "first";
    doc.providers.bulk = {
      strategy: "least_used",
      credentials: Array.from({ length: 2200 }, (_, i) => ({
        id: `bulk-${i}`,
        label: `Team key ${i}`,
        provider: "bulk",
        kind: "api_key" as const,
        source: "manual",
        priority: 0,
        tokenGeneration: 0,
        secrets: { apiKey: `fake-bulk-${i}-`.padEnd(500, "x") },
        status: { state: "ok" as const },
        usage: { requests: i, failures: 0 },
      })),
    };
  });
  await setup.update((doc) => void (doc.marker = "old"));
  await setup.close();
  const bytes = await readFile(pool);
  if (bytes.length < 2 ** 20) throw new Error(`the seeded pool is too small: ${bytes.length} bytes`);
  return bytes;
}

// Bytes compared with Buffer.equals: toEqual() walks 2 MB element by element, for seconds.
describe.concurrent("large documents in the commit worker", () => {
  it("keeps the previous revision as the backup and leaves no temp file", async ({ expect }) => {
    const dir = await createTempDir();
    try {
      const pool = dir.file("pool.json");
      const oldBytes = await seedLargePool(pool);
      const child = spawnChild(writer, ["--pool", pool, "--marker", "new", "--worker", "yes", "--linger", "no"]);
      expect(await child.waitFor<{ ok: boolean; rev?: number }>((m) => typeof m.ok === "boolean")).toEqual({
        ok: true,
        rev: 3,
      });
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect((await readFile(`${pool}.bak`)).equals(oldBytes)).toBe(true);
      expect(JSON.parse(await readFile(pool, "utf8"))).toMatchObject({ rev: 3, marker: "new" });
      expect((await readdir(dir.path)).sort()).toEqual(["pool.json", "pool.json.bak"]);
    } finally {
      await dir.remove();
    }
  });

  // Points after the backup is taken, with the temp file and the freed revision's temp name both there or not.
  const points = [
    ["write", "before", "old"],
    ["rename", "after", "new"],
    ["dirsync", "after", "new"],
  ] as const;
  for (const [step, phase, document] of points) {
    it(`keeps the whole ${document} document and the old backup when killed ${phase} ${step}`, async ({ expect }) => {
      const dir = await createTempDir();
      try {
        const pool = dir.file("pool.json");
        const oldBytes = await seedLargePool(pool);
        const child = spawnChild(writer, ["--pool", pool, "--marker", "new", "--worker", "yes"], {
          nodeArgs: ["--import", crashPreload],
          env: { CREDPOOL_CRASH_AT: `${step}:${phase}` },
        });
        expect((await child.exited).signal, child.stderr()).toBe("SIGKILL");
        // The backup is taken before the temp file is opened: it is rev 2 whether or not rev 3 landed.
        expect((await readFile(`${pool}.bak`)).equals(oldBytes)).toBe(true);
        if (document === "old") expect((await readFile(pool)).equals(oldBytes)).toBe(true);
        else expect(JSON.parse(await readFile(pool, "utf8"))).toMatchObject({ rev: 3, marker: "new" });

        const next = createFileBackend({ path: pool, staleMs: 2000 });
        const { doc } = await next.read();
        expect(doc.marker).toBe(document);
        expect((await next.update((draft) => void (draft.recovered = true))).rev).toBe(doc.rev + 1);
        await next.close();
        // Nothing else is left, under a temp name or not.
        expect((await readdir(dir.path)).sort()).toEqual(["pool.json", "pool.json.bak"]);
      } finally {
        await dir.remove();
      }
    });
  }
});
