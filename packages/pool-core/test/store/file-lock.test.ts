// Lock timeouts say which lock, and for how long it has been held, so a user can find the holder.
import { afterEach, describe, expect, it } from "vitest";
import { acquireFileLock, createFileBackend, isPoolError } from "@credpool/pool-core";
import { type HeldFileLock } from "../../src/store/index.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

describe("lock timeouts", () => {
  let dir: TempDir;
  let held: HeldFileLock | undefined;
  afterEach(async () => {
    await held?.release();
    held = undefined;
    await dir?.remove();
  });

  it("rejects update() with E_LOCK_TIMEOUT naming the lock path and how long it was held, and writes nothing", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const seed = createFileBackend({ path });
    await seed.update((draft) => {
      draft.value = "seed";
    });
    await seed.close();

    held = await acquireFileLock(path, `${path}.lock`, { staleMs: 10_000, timeoutMs: 1_000 });
    const backend = createFileBackend({ path, lockTimeoutMs: 100, staleMs: 10_000 });
    const error = await backend
      .update((draft) => {
        draft.value = "blocked";
      })
      .catch((reason: unknown) => reason);
    expect(isPoolError(error, "E_LOCK_TIMEOUT")).toBe(true);
    expect((error as Error).message).toContain(`${path}.lock`);
    expect((error as Error).message).toMatch(/held for \d+ ms/);
    expect((error as { details?: Record<string, unknown> }).details?.lockPath).toBe(`${path}.lock`);

    await held.release();
    held = undefined;
    expect((await backend.read()).doc.value).toBe("seed");
    // Once the holder is gone the same backend commits again: the timeout left nothing stuck.
    expect((await backend.update((draft) => void (draft.value = "after"))).rev).toBe(2);
    await backend.close();
  });

  it("rejects a named lock with E_LOCK_TIMEOUT naming its own lock path, not the pool's", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const holder = createFileBackend({ path });
    const other = createFileBackend({ path });
    const refreshLock = await holder.lock("refresh:cred-1");
    try {
      const error = await other.lock("refresh:cred-1", { timeoutMs: 100 }).catch((reason: unknown) => reason);
      expect(isPoolError(error, "E_LOCK_TIMEOUT")).toBe(true);
      const lockPath = (error as { details?: { lockPath?: string } }).details?.lockPath ?? "";
      expect(lockPath.startsWith(dir.path)).toBe(true);
      expect(lockPath).not.toBe(`${path}.lock`);
      expect((error as Error).message).toContain(lockPath);
    } finally {
      await refreshLock.release();
      await holder.close();
      await other.close();
    }
  });

  it("rejects lock names that could escape the lock directory with E_USAGE", async () => {
    dir = await createTempDir();
    const backend = createFileBackend({ path: dir.file("pool.json") });
    for (const name of ["../pool.json", "a/b", "", "x".repeat(129)]) {
      const error = await backend.lock(name).catch((reason: unknown) => reason);
      expect(isPoolError(error, "E_USAGE"), name).toBe(true);
    }
    await backend.close();
  });
});
