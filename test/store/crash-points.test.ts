// A writer dies (SIGKILL) just before or just after each commit step; the file must hold the whole old document or
// the whole new one, and the next writer must recover. Crashes come from a preload (test/children/fs-crash.mjs).
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { seedOldDocument } from "./step-writer-pool.js";
import { createTempDir, spawnChild } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/step-writer.mjs", import.meta.url));
const crashPreload = fileURLToPath(new URL("../children/fs-crash.mjs", import.meta.url));

const STEPS = ["lock", "open", "write", "fsync", "rename", "dirsync"] as const;
const PHASES = ["before", "after"] as const;
type Step = (typeof STEPS)[number];
type Phase = (typeof PHASES)[number];

const order = (step: Step, phase: Phase): number => STEPS.indexOf(step) * 2 + PHASES.indexOf(phase);

/** What the crash must leave behind, from where it happened in the commit. */
function expectedState(step: Step, phase: Phase) {
  const point = order(step, phase);
  return {
    // The rename is the commit point: before it only the old document exists, after it only the new one.
    document: point >= order("rename", "after") ? "new" : "old",
    lockHeld: point >= order("lock", "after"),
    // write-file-atomic's temp file exists from its open until the rename consumes it.
    tempFile: point >= order("open", "after") && point <= order("rename", "before"),
  } as const;
}

const isWriterTemp = (name: string): boolean => /^pool\.json\.\d+$/.test(name);
const isTempFile = (name: string): boolean => /^pool\.json\.(\d+|bak\.[0-9a-f]+\.tmp)$/.test(name);

// Each case mostly waits for a child and then for its lock to go stale; side by side they take seconds, not a minute.
describe.concurrent("crash points in a commit", () => {
  for (const step of STEPS) {
    for (const phase of PHASES) {
      const expected = expectedState(step, phase);
      it(`keeps the whole ${expected.document} document when the writer is killed ${phase} ${step}, and the next writer recovers`, async ({
        expect,
      }) => {
        const dir = await createTempDir();
        try {
          const pool = dir.file("pool.json");
          const oldBytes = await seedOldDocument(pool);

          const child = spawnChild(writer, ["--pool", pool, "--marker", "new"], {
            nodeArgs: ["--import", crashPreload],
            env: { CREDPOOL_CRASH_AT: `${step}:${phase}` },
          });
          const exit = await child.exited;
          // Any other ending means the crash point was never reached, and the rest would prove nothing.
          expect(exit.signal, child.stderr()).toBe("SIGKILL");

          if (expected.document === "old") {
            expect(await readFile(pool)).toEqual(oldBytes);
          } else {
            const text = await readFile(pool, "utf8");
            expect(JSON.parse(text)).toMatchObject({ rev: 2, marker: "new" });
          }
          const names = await readdir(dir.path);
          expect(existsSync(`${pool}.lock`)).toBe(expected.lockHeld);
          expect(names.some(isWriterTemp)).toBe(expected.tempFile);

          // Recovery: the dead writer's lock goes stale, and the first commit of a fresh backend clears its temp file.
          const next = createFileBackend({ path: pool, staleMs: 2000 });
          const { doc } = await next.read();
          expect(doc.marker).toBe(expected.document);
          const committed = await next.update((draft) => {
            draft.recovered = true;
          });
          expect(committed.rev).toBe(doc.rev + 1);
          await next.close();
          expect((await readdir(dir.path)).filter(isTempFile)).toEqual([]);
        } finally {
          await dir.remove();
        }
      });
    }
  }
});
