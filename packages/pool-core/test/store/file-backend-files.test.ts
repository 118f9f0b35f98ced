// What the file backend leaves on disk: modes, the last-good backup, and no silent "empty pool".
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { chmod, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileBackend, isPoolError, type FileBackend } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe("file backend on disk", () => {
  let dir: TempDir;
  let backends: FileBackend[];
  let savedUmask: number;

  function open(path: string): FileBackend {
    const backend = createFileBackend({ path });
    backends.push(backend);
    return backend;
  }

  beforeEach(async () => {
    dir = await createTempDir();
    backends = [];
    // A permissive umask, so the modes below come from the backend and not from the environment.
    savedUmask = process.umask(0o000);
  });

  afterEach(async () => {
    process.umask(savedUmask);
    await Promise.allSettled(backends.map((backend) => backend.close()));
    await dir.remove();
  });

  it("creates the pool file with mode 0600 in a directory with mode 0700 on the first update", async () => {
    const path = dir.file("home/credpool/pool.json");
    await open(path).update(() => undefined);
    expect(await modeOf(path)).toBe(0o600);
    expect(await modeOf(dir.file("home/credpool"))).toBe(0o700);
  });

  it("tightens an existing world-readable pool file to 0600 when it commits", async () => {
    const path = dir.file("pool.json");
    await open(path).update(() => undefined);
    await chmod(path, 0o644);
    await open(path).update((draft) => {
      draft.touched = true;
    });
    expect(await modeOf(path)).toBe(0o600);
  });

  it("keeps the previous revision in pool.json.bak after each commit, and none before the second", async () => {
    const path = dir.file("pool.json");
    const backend = open(path);
    await backend.update((draft) => {
      draft.value = "first";
    });
    expect(existsSync(backend.backupPath)).toBe(false);

    for (const value of ["second", "third"]) {
      const before = await readFile(path, "utf8");
      await backend.update((draft) => {
        draft.value = value;
      });
      // Byte for byte the document that was replaced.
      expect(await readFile(backend.backupPath, "utf8")).toBe(before);
    }
    const backup = JSON.parse(await readFile(backend.backupPath, "utf8")) as { rev: number; value: string };
    expect(backup).toMatchObject({ rev: 2, value: "second" });
    expect(await modeOf(backend.backupPath)).toBe(0o600);
  });

  it("keeps the revision before the latest commit as the backup, however quickly commits follow each other", async () => {
    const path = dir.file("pool.json");
    const backend = open(path);
    for (const value of ["first", "second", "third", "fourth"]) {
      await backend.update((draft) => {
        draft.value = value;
      });
    }
    // A restore must lose at most the latest commit, never a second's worth of them.
    const backup = JSON.parse(await readFile(backend.backupPath, "utf8")) as { rev: number; value: string };
    expect(backup).toMatchObject({ rev: 3, value: "third" });
  });

  it("rejects with E_POOL_CORRUPT naming both files when pool.json is missing but its backup exists, and writes nothing", async () => {
    const path = dir.file("pool.json");
    const backend = open(path);
    await backend.update((draft) => {
      draft.value = "first";
    });
    await backend.update((draft) => {
      draft.value = "second";
    });
    await unlink(path);
    const backupBefore = await readFile(backend.backupPath, "utf8");

    const readError = await open(path)
      .read()
      .catch((reason: unknown) => reason);
    expect(isPoolError(readError, "E_POOL_CORRUPT")).toBe(true);
    expect((readError as Error).message).toContain(path);
    expect((readError as Error).message).toContain(backend.backupPath);

    // The dangerous path: an update must not turn "file missing" into a fresh empty pool.
    const updateError = await open(path)
      .update((draft) => {
        draft.value = "from-empty";
      })
      .catch((reason: unknown) => reason);
    expect(isPoolError(updateError, "E_POOL_CORRUPT")).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(await readFile(backend.backupPath, "utf8")).toBe(backupBefore);
  });

  it("rejects with E_POOL_CORRUPT naming line and column and leaves the file untouched when JSON is truncated", async () => {
    const path = dir.file("pool.json");
    const text = '{\n  "schemaVersion": 1,\n  "rev": 3,\n  "updatedAt": "x",\n  "providers": {';
    await writeFile(path, text, { mode: 0o600 });
    const error = await open(path)
      .update((draft) => {
        draft.value = "overwrite";
      })
      .catch((reason: unknown) => reason);
    expect(isPoolError(error, "E_POOL_CORRUPT")).toBe(true);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/line 5, column \d+/);
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("rejects with E_POOL_CORRUPT naming the failing field path when the schema does not match", async () => {
    const path = dir.file("pool.json");
    const text = JSON.stringify({
      schemaVersion: 1,
      rev: 1,
      updatedAt: "x",
      providers: { openai: { credentials: [{ id: 5 }] } },
    });
    await writeFile(path, text, { mode: 0o600 });
    const error = await open(path)
      .read()
      .catch((reason: unknown) => reason);
    expect(isPoolError(error, "E_POOL_CORRUPT")).toBe(true);
    expect((error as Error).message).toContain("providers.openai.credentials[0].id");
    expect(await readFile(path, "utf8")).toBe(text);
  });
  // models/store-commit.pml (mutant M_ABORT_KEEPS_LOCK): a fence failure used to keep the lock, and when the lock was
  // still ours no writer could ever take it again.
  it("releases its lock when the rev fence aborts a transaction, so the next update commits", async () => {
    const path = dir.file("pool.json");
    const backend = createFileBackend({ path, lockTimeoutMs: 1000, staleMs: 600_000 });
    backends.push(backend);
    await backend.update((draft) => {
      draft.writer = "first";
    });
    // A commit lands between our read and our fence without our lock (a hand edit, or a holder we broke the lock of).
    const failed = await backend
      .update((draft) => {
        const onDisk = JSON.parse(readFileSync(path, "utf8")) as { rev: number; writer?: string };
        writeFileSync(path, JSON.stringify({ ...onDisk, rev: onDisk.rev + 1, writer: "outside" }, null, 2));
        draft.writer = "lost";
      })
      .catch((error: unknown) => error);
    expect(isPoolError(failed, "E_LOCK_COMPROMISED")).toBe(true);
    expect(existsSync(`${path}.lock`)).toBe(false);
    const after = await backend.update((draft) => {
      draft.writer = "next";
    });
    expect(after.rev).toBe(3);
    expect(after.writer).toBe("next");
  });
});
