// A source file that credpool owns is written back after every refresh; a short write there must not truncate
// it (a truncated ~/.claude/.credentials.json logs the user out). The limit makes the short write real.
import { execFile } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, nodeWithFileSizeLimit, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("../children/rewrite-source.mjs", import.meta.url));
const STEP_WRITER = fileURLToPath(new URL("../children/step-writer.mjs", import.meta.url));
const run = promisify(execFile);

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.remove();
  dir = undefined;
});

describe("source write-back under a file-size limit", () => {
  it("fails with E_SOURCE naming the file and EFBIG, and leaves the file as it was", async () => {
    dir = await createTempDir("credpool-short-");
    const path = join(dir.path, ".credentials.json");
    const before = `${JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-old", refreshToken: "sk-ant-ort01-old", expiresAt: 1 } }, null, 2)}\n`;
    await writeFile(path, before, { mode: 0o600 });

    const { command, args } = nodeWithFileSizeLimit(Buffer.byteLength(before) + 32, [
      CHILD,
      "--path",
      path,
      "--field",
      "padding",
      "--value",
      "x".repeat(4096),
    ]);
    const { stdout } = await run(command, args);
    const outcome = JSON.parse(stdout) as { written?: boolean; error?: { code: string; message: string } };
    expect(outcome.error?.code).toBe("E_SOURCE");
    expect(outcome.error?.message).toContain(path);
    expect(outcome.error?.message).toContain("EFBIG");
    expect(await readFile(path, "utf8")).toBe(before);
    expect((await readdir(dir.path)).sort()).toEqual([".credentials.json"]);

    // The same write with room for it succeeds, so the limit is what stopped the first one.
    const roomy = nodeWithFileSizeLimit(1 << 20, [
      CHILD,
      "--path",
      path,
      "--field",
      "padding",
      "--value",
      "x".repeat(4096),
    ]);
    const second = JSON.parse((await run(roomy.command, roomy.args)).stdout) as { written?: boolean };
    expect(second.written).toBe(true);
    expect((JSON.parse(await readFile(path, "utf8")) as { padding: string }).padding).toHaveLength(4096);
  });
});

// The pool file is written by the commit worker's own writer (commit-worker.ts, writeDurably), not write-file-atomic:
// the same limit, on both of the worker's paths (two messages, and one after two warm-up updates).
describe.for([
  { name: "two messages", warmup: "0" },
  { name: "one message", warmup: "2" },
])("a pool commit in the commit worker under a file-size limit ($name)", ({ warmup }) => {
  it("fails with E_POOL_IO naming the file and EFBIG, keeps the last revision, and leaves no temp file or lock", async () => {
    dir = await createTempDir("credpool-short-pool-");
    const pool = join(dir.path, "pool.json");
    const seeding = createFileBackend({ path: pool });
    await seeding.update((doc) => {
      (doc as unknown as { marker: string }).marker = "small";
    });
    await seeding.close();
    const before = await readFile(pool, "utf8");

    const writeMarker = async (limit: number) => {
      const { command, args } = nodeWithFileSizeLimit(limit, [
        STEP_WRITER,
        "--pool",
        pool,
        "--worker",
        "yes",
        "--warmup",
        warmup,
        "--linger",
        "no",
        "--marker",
        "x".repeat(4096),
      ]);
      const { stdout } = await run(command, args);
      return JSON.parse(stdout.trim().split("\n").at(-1)!) as { ok: boolean; code?: string; message?: string };
    };

    const outcome = await writeMarker(Buffer.byteLength(before) + 64);
    expect(outcome.ok).toBe(false);
    expect(outcome.code).toBe("E_POOL_IO");
    expect(outcome.message).toContain(pool);
    expect(outcome.message).toContain("EFBIG");
    expect(await readFile(pool, "utf8")).toBe(before);
    expect((await readdir(dir.path)).filter((name) => name !== "pool.json.bak").sort()).toEqual(["pool.json"]);

    // With room for it the same commit succeeds, so the limit is what stopped the first one.
    const second = await writeMarker(1 << 20);
    expect(second.ok).toBe(true);
    expect((JSON.parse(await readFile(pool, "utf8")) as { marker: string }).marker).toHaveLength(4096);
  });
});
