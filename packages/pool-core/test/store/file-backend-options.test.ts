// createFileBackend validates options before touching the disk, and honours createIfMissing.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createFileBackend, isPoolError } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("createFileBackend options", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["staleMs below proper-lockfile's 2000 ms minimum", { staleMs: 500 }, /staleMs/],
    ["a zero lockTimeoutMs", { lockTimeoutMs: 0 }, /lockTimeoutMs/],
    ["an empty path", { path: "" }, /path/],
    ["a misspelt option", { lockTimeout: 100 }, /lockTimeout/],
    ["a non-boolean createIfMissing", { createIfMissing: "yes" }, /createIfMissing/],
  ])("throws E_INVALID_OPTIONS naming the field for %s, before creating anything", async (_case, bad, field) => {
    dir = await createTempDir();
    const path = dir.file("nested/pool.json");
    const error = errorOf(() => createFileBackend({ path, ...bad }));
    expect(isPoolError(error, "E_INVALID_OPTIONS")).toBe(true);
    expect((error as Error).message).toMatch(field);
    expect(existsSync(dir.file("nested"))).toBe(false);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it("does no I/O when constructed with valid options", async () => {
    dir = await createTempDir();
    createFileBackend({ path: dir.file("nested/pool.json") });
    expect(await readdir(dir.path)).toEqual([]);
  });

  it("rejects update() with E_POOL_NOT_FOUND and creates no directory when createIfMissing is false", async () => {
    dir = await createTempDir();
    const backend = createFileBackend({ path: dir.file("missing/pool.json"), createIfMissing: false });
    const error = await backend.update(() => undefined).catch((reason: unknown) => reason);
    await backend.close();
    expect(isPoolError(error, "E_POOL_NOT_FOUND")).toBe(true);
    expect((error as Error).message).toContain(dir.file("missing/pool.json"));
    expect(existsSync(dir.file("missing"))).toBe(false);
  });

  it("rejects update() and read() with E_POOL_NOT_FOUND and creates no file when createIfMissing is false and only the directory exists", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const backend = createFileBackend({ path, createIfMissing: false });
    const updateError = await backend.update(() => undefined).catch((reason: unknown) => reason);
    const readError = await backend.read().catch((reason: unknown) => reason);
    await backend.close();
    expect(isPoolError(updateError, "E_POOL_NOT_FOUND")).toBe(true);
    expect(isPoolError(readError, "E_POOL_NOT_FOUND")).toBe(true);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it("opens an existing pool normally when createIfMissing is false", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const creator = createFileBackend({ path });
    await creator.update(() => undefined);
    await creator.close();

    const backend = createFileBackend({ path, createIfMissing: false });
    const committed = await backend.update((draft) => {
      draft.touched = true;
    });
    await backend.close();
    expect(committed.rev).toBe(2);
  });
});
