// Failure 4 (wiped pools) from the write side: an I/O error at any commit step reaches the caller with its errno,
// leaves a valid document and releases the lock. Faults come from a preload (test/children/fs-fault.mjs).
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { seedOldDocument } from "./step-writer-pool.js";
import { createTempDir, spawnChild } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/step-writer.mjs", import.meta.url));
const faultPreload = fileURLToPath(new URL("../children/fs-fault.mjs", import.meta.url));

const STEPS = ["lock", "open", "write", "fsync", "rename", "dirsync"] as const;
const ERRNOS = ["EIO", "ENOSPC", "EPERM"] as const;
const STALE_MS = 2000;

interface StepResult {
  ok: boolean;
  code?: string;
  details?: { errno?: string; path?: string };
  message?: string;
}

const isTempFile = (name: string): boolean => /^pool\.json\.(\d+|bak\.[0-9a-f]+\.tmp)$/.test(name);

// Each case waits on a child process; running them side by side keeps the file well under its time budget.
describe.concurrent("fault injection at each commit step", () => {
  for (const step of STEPS) {
    for (const errno of ERRNOS) {
      // The directory fsync comes after the rename, so the new document is already in place when it fails.
      const survivor = step === "dirsync" ? "the new document" : "the old document";
      it(`rejects with E_POOL_IO (${errno}) when ${step} fails, keeps ${survivor} and releases the lock`, async ({
        expect,
      }) => {
        const dir = await createTempDir();
        try {
          const pool = dir.file("pool.json");
          const oldBytes = await seedOldDocument(pool);

          const child = spawnChild(writer, ["--pool", pool, "--marker", "new"], {
            nodeArgs: ["--import", faultPreload],
            env: { CREDPOOL_FAULT: `${step}:${errno}` },
          });
          const result = await child.waitFor<StepResult>((m) => typeof m.ok === "boolean");

          expect(result.ok).toBe(false);
          expect(result.code).toBe("E_POOL_IO");
          expect(result.details?.errno).toBe(errno);
          expect(result.message).toContain(errno);
          expect(result.message).toContain(step === "lock" ? `${pool}.lock` : pool);

          // The writer is still alive: a lock it leaked would still be held, and kept fresh, so taking it well
          // under `stale` proves it was released rather than broken.
          const checker = createFileBackend({ path: pool, staleMs: STALE_MS, lockTimeoutMs: STALE_MS / 2 });
          if (step === "dirsync") {
            const { doc } = await checker.read();
            expect(doc.marker).toBe("new");
            expect(doc.rev).toBe(2);
          } else {
            expect(await readFile(pool)).toEqual(oldBytes);
            const { doc } = await checker.read();
            expect(doc.rev).toBe(1);
          }
          const committed = await checker.update((doc) => {
            doc.checked = true;
          });
          expect(committed.rev).toBe(step === "dirsync" ? 3 : 2);
          await checker.close();
          expect((await readdir(dir.path)).filter(isTempFile)).toEqual([]);

          child.send("exit");
          expect(await child.exited).toEqual({ code: 0, signal: null });
        } finally {
          await dir.remove();
        }
      });
    }
  }
});
