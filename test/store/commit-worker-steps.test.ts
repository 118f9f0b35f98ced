// The crash-point and fault-injection matrices of crash-points.test.ts and fault-injection.test.ts, for commits made
// by the commit worker (synchronous syscalls in a worker thread). Those suites' one-shot writer commits before its
// worker is up, on the main thread; here the writer waits for the worker first.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { seedOldDocument } from "./step-writer-pool.js";
import { createTempDir, spawnChild } from "@credpool/pool-testkit";

const execFileAsync = promisify(execFile);
const writer = fileURLToPath(new URL("../children/step-writer.mjs", import.meta.url));
const crashPreload = fileURLToPath(new URL("../children/fs-crash.mjs", import.meta.url));
const faultPreload = fileURLToPath(new URL("../children/fs-fault.mjs", import.meta.url));

const STEPS = ["lock", "open", "write", "fsync", "rename", "dirsync"] as const;
const isWriterTemp = (name: string): boolean => /^pool\.json\.\d+$/.test(name);
const isTempFile = (name: string): boolean => /^pool\.json\.(\d+|bak\.[0-9a-f]+\.tmp)$/.test(name);

// A commit takes two messages (lock and read, then publish), or one when it was built on the file as this process
// last left it (commitIfUnchanged); two warm-up updates that change nothing put the writer on that path.
const PATHS = [
  { name: "", args: [] as string[], env: {} },
  { name: " (one message)", args: ["--warmup", "2"], env: { CREDPOOL_STEPS_AFTER_LOCKS: "2" } },
];

describe.concurrent.for(PATHS)("commit worker: crash points$name", (path) => {
  STEPS.forEach((step, index) => {
    for (const phase of ["before", "after"] as const) {
      const point = index * 2 + (phase === "after" ? 1 : 0);
      const document = point >= STEPS.indexOf("rename") * 2 + 1 ? "new" : "old";
      const lockHeld = point >= 1;
      const tempFile = point >= STEPS.indexOf("open") * 2 + 1 && point <= STEPS.indexOf("rename") * 2;
      it(`keeps the whole ${document} document when killed ${phase} ${step} in the worker`, async ({ expect }) => {
        const dir = await createTempDir();
        try {
          const pool = dir.file("pool.json");
          const oldBytes = await seedOldDocument(pool);
          const child = spawnChild(writer, ["--pool", pool, "--marker", "new", "--worker", "yes", ...path.args], {
            nodeArgs: ["--import", crashPreload],
            env: { CREDPOOL_CRASH_AT: `${step}:${phase}`, ...path.env },
          });
          expect((await child.exited).signal, child.stderr()).toBe("SIGKILL");
          if (document === "old") expect(await readFile(pool)).toEqual(oldBytes);
          else expect(JSON.parse(await readFile(pool, "utf8"))).toMatchObject({ rev: 2, marker: "new" });
          expect(existsSync(`${pool}.lock`)).toBe(lockHeld);
          expect((await readdir(dir.path)).some(isWriterTemp)).toBe(tempFile);

          const next = createFileBackend({ path: pool, staleMs: 2000 });
          const { doc } = await next.read();
          expect(doc.marker).toBe(document);
          expect((await next.update((draft) => void (draft.recovered = true))).rev).toBe(doc.rev + 1);
          await next.close();
          expect((await readdir(dir.path)).filter(isTempFile)).toEqual([]);
        } finally {
          await dir.remove();
        }
      });
    }
  });
});

describe.concurrent.for(PATHS)("commit worker: fault injection$name", (path) => {
  for (const step of STEPS) {
    for (const errno of ["EIO", "ENOSPC"] as const) {
      const survivor = step === "dirsync" ? "new" : "old";
      it(`rejects with E_POOL_IO (${errno}) when ${step} fails in the worker, keeps the ${survivor} document and releases the lock`, async ({
        expect,
      }) => {
        const dir = await createTempDir();
        try {
          const pool = dir.file("pool.json");
          const oldBytes = await seedOldDocument(pool);
          const child = spawnChild(writer, ["--pool", pool, "--marker", "new", "--worker", "yes", ...path.args], {
            nodeArgs: ["--import", faultPreload],
            env: { CREDPOOL_FAULT: `${step}:${errno}`, ...path.env },
          });
          const result = await child.waitFor<{ ok: boolean; code?: string; details?: { errno?: string } }>(
            (m) => typeof m.ok === "boolean",
          );
          expect(result).toMatchObject({ ok: false, code: "E_POOL_IO", details: { errno } });
          // The writer is alive: a lock it leaked would be kept fresh, so taking it well under `stale` proves it
          // was released.
          const checker = createFileBackend({ path: pool, staleMs: 2000, lockTimeoutMs: 1000 });
          if (survivor === "old") expect(await readFile(pool)).toEqual(oldBytes);
          const committed = await checker.update((doc) => void (doc.checked = true));
          expect(committed.rev).toBe(survivor === "new" ? 3 : 2);
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

describe("commit worker lifetime", () => {
  // An idle worker must not keep a process alive: a CLI command or an agent exits when its work is done.
  for (const worker of ["no", "yes"] as const) {
    it(`lets a process exit by itself after it committed (${worker === "yes" ? "in the worker" : "while the worker starts"})`, async ({
      expect,
    }) => {
      const dir = await createTempDir();
      try {
        const pool = dir.file("pool.json");
        await seedOldDocument(pool);
        const child = spawnChild(writer, ["--pool", pool, "--marker", "new", "--worker", worker, "--linger", "no"]);
        const result = await child.waitFor<{ ok: boolean }>((m) => typeof m.ok === "boolean");
        expect(result.ok).toBe(true);
        const exited = await Promise.race([
          child.exited,
          new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 20_000)),
        ]);
        if (exited === "still running") child.kill("SIGKILL");
        expect(exited).toEqual({ code: 0, signal: null });
      } finally {
        await dir.remove();
      }
    });
  }
});

describe("commit worker start-up", () => {
  it("starts from a process run with node -e and --input-type, whose flags a worker would refuse", async ({
    expect,
  }) => {
    const core = new URL("../../packages/pool-core/dist/index.js", import.meta.url).href;
    const script = `import { prepareCommitWorker } from ${JSON.stringify(core)}; console.log(JSON.stringify({ ready: await prepareCommitWorker() }));`;
    const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", script]);
    expect(JSON.parse(stdout)).toEqual({ ready: true });
  });

  // A gateway started with a V8 flag (a larger heap) must not fail its second commit: the worker refuses such flags.
  it("starts, and commits, in a process run with a V8 flag such as --max-old-space-size", async ({ expect }) => {
    const dir = await createTempDir();
    try {
      const core = new URL("../../packages/pool-core/dist/index.js", import.meta.url).href;
      const script = [
        `import { createFileBackend, prepareCommitWorker } from ${JSON.stringify(core)};`,
        `const backend = createFileBackend({ path: ${JSON.stringify(dir.file("pool.json"))} });`,
        `let doc;`,
        `for (let i = 0; i < 3; i++) doc = await backend.update((d) => { d.providers.x = { credentials: [] }; });`,
        `const ready = await prepareCommitWorker();`,
        `doc = await backend.update((d) => { d.providers.y = { credentials: [] }; });`,
        `await backend.close();`,
        `console.log(JSON.stringify({ ready, rev: doc.rev }));`,
      ].join("\n");
      const { stdout } = await execFileAsync(process.execPath, [
        "--max-old-space-size=512",
        "--input-type=module",
        "-e",
        script,
      ]);
      expect(JSON.parse(stdout)).toEqual({ ready: true, rev: 2 });
    } finally {
      await dir.remove();
    }
  });
});
