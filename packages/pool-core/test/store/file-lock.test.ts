// Lock timeouts say which lock, and for how long it has been held, so a user can find the holder.
import fs from "node:fs";
import { mkdir, utimes } from "node:fs/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
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

  // The refresher waits on its own terms and asks for one try (timeoutMs: 1). With 120 processes waiting on one
  // refresh, their tries (a dozen filesystem calls each, a precision probe on a process's first) took the CPU the
  // holder needed to commit; see bench/lib/fanout.mjs.
  it("fails a single try on a fresh named lock with E_LOCK_TIMEOUT without attempting the lock", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const holder = createFileBackend({ path });
    const other = createFileBackend({ path });
    const refreshLock = await holder.lock("refresh:cred-1");
    const mkdirCalls = vi.spyOn(fs, "mkdir");
    try {
      const error = await other.lock("refresh:cred-1", { timeoutMs: 1 }).catch((reason: unknown) => reason);
      expect(isPoolError(error, "E_LOCK_TIMEOUT")).toBe(true);
      expect((error as Error).message).toMatch(/held for \d+ ms/);
      const lockPath = (error as { details?: { lockPath?: string } }).details?.lockPath ?? "";
      expect(lockPath.endsWith("refresh_cred-1.lock")).toBe(true);
      // proper-lockfile's try starts with mkdir of the lock directory.
      expect(mkdirCalls.mock.calls.filter(([target]) => String(target) === lockPath)).toHaveLength(0);
    } finally {
      mkdirCalls.mockRestore();
      await refreshLock.release();
    }
    // Released, the same single try takes it.
    const taken = await other.lock("refresh:cred-1", { timeoutMs: 1 });
    await taken.release();
    await holder.close();
    await other.close();
  });

  it("breaks a stale named lock on a single try", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const backend = createFileBackend({ path, staleMs: 2000 });
    // A holder that crashed: its lock directory, last refreshed a minute ago.
    const lockPath = dir.file("pool.json.locks/refresh_cred-1.lock");
    await mkdir(lockPath, { recursive: true });
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(lockPath, minuteAgo, minuteAgo);
    const taken = await backend.lock("refresh:cred-1", { timeoutMs: 1 });
    await taken.release();
    await backend.close();
  });
});
