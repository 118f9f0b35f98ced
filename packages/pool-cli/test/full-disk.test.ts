// A full disk or a file-size limit makes write(2) return a short count with no error. These tests produce that
// for real (RLIMIT_FSIZE, and a full tmpfs when running as root) and check that no acknowledged update is lost,
// no truncated file is published, and the failed command says what happened.
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtureSecret, runCli, useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();
const isRoot = process.getuid?.() === 0;

async function listLabels(
  run: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>,
): Promise<string[]> {
  const list = await run(["list", "--json"]);
  expect(list.code, list.stderr).toBe(0);
  return (JSON.parse(list.stdout) as { credentials: { label: string }[] }).credentials.map((c) => c.label);
}

describe("a write that runs out of space", () => {
  it("fails add with exit 8 naming the file and EFBIG, and leaves the last acknowledged revision in place", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "openrouter", label: "one" },
      { provider: "openrouter", label: "two" },
    ]);
    const before = await readFile(pool.path, "utf8");
    // Room for the current document, not for one more credential: the temp file's write is cut short.
    const limit = Buffer.byteLength(before) + 64;

    const add = await pool.run(["add", "openrouter", "--api-key-stdin", "--label", "three"], {
      input: fixtureSecret("sk-or-v1-"),
      fileSizeLimit: limit,
    });
    expect(add.code, add.stderr).toBe(8);
    expect(add.stderr).toContain(pool.path);
    expect(add.stderr).toContain("EFBIG");
    expect(add.stderr).toContain("Nothing was committed");
    expect(add.stdout).toBe("");

    expect(await readFile(pool.path, "utf8")).toBe(before);
    const names = await readdir(dirname(pool.path));
    expect(names.filter((name) => /^pool\.json\.\d+$/.test(name))).toEqual([]);
    expect(await listLabels((args) => pool.run(args))).toEqual(["one", "two"]);
  });

  it("fails gateway token create the same way and keeps every token already stored", async () => {
    const pool = await freshPool();
    for (const name of ["a", "b"]) {
      const created = await pool.run(["gateway", "token", "create", "--name", name], { revealsSecrets: true });
      expect(created.code, created.stderr).toBe(0);
    }
    const file = join(dirname(pool.path), "gateway-tokens.json");
    const before = await readFile(file, "utf8");

    const created = await pool.run(["gateway", "token", "create", "--name", "c"], {
      revealsSecrets: true,
      fileSizeLimit: Buffer.byteLength(before) + 16,
    });
    expect(created.code, created.stderr).toBe(8);
    expect(created.stderr).toContain(file);
    expect(await readFile(file, "utf8")).toBe(before);
    const listed = await pool.run(["gateway", "token", "list", "--json"]);
    expect((JSON.parse(listed.stdout) as { tokens: { name: string }[] }).tokens.map((t) => t.name).sort()).toEqual([
      "a",
      "b",
    ]);
  });

  it.skipIf(!isRoot)(
    "on a full tmpfs, every add that exited 0 is in the pool and the one that did not fit says ENOSPC",
    async () => {
      const pool = await freshPool({ init: false });
      const mount = join(pool.dir.path, "small");
      await mkdir(mount);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", mount]);
      try {
        const path = join(mount, "pool.json");
        const run = (args: string[], input?: string) =>
          runCli(args, { pool: path, ...(input === undefined ? {} : { input }) });
        expect((await run(["init"])).code).toBe(0);
        const acknowledged: string[] = [];
        let failure: { code: number | null; stderr: string } | undefined;
        // Each credential is a few hundred bytes; 16 KiB (4 pages) holds the pool, its backup and a temp copy ~10 times over.
        for (let i = 0; i < 200 && failure === undefined; i++) {
          const label = `team${i}`;
          const add = await run(["add", "openrouter", "--api-key-stdin", "--label", label], fixtureSecret("sk-or-v1-"));
          if (add.code === 0) acknowledged.push(label);
          else failure = add;
        }
        expect(failure, "the tmpfs never filled up").toBeDefined();
        expect(failure?.code, failure?.stderr).toBe(8);
        expect(failure?.stderr).toContain("ENOSPC");
        expect(failure?.stderr).toContain(path);
        expect(acknowledged.length).toBeGreaterThan(0);
        expect(await listLabels(run)).toEqual(acknowledged);
        // The cut-short temp file is gone, not left to fill the disk further.
        expect((await readdir(mount)).filter((name) => /^pool\.json\.\d+$/.test(name))).toEqual([]);
      } finally {
        execFileSync("umount", [mount]);
      }
    },
  );
});

describe("a pool path that is not a regular file", () => {
  it("fails at once with exit 8 naming a FIFO, instead of blocking on it", async () => {
    const pool = await freshPool();
    await rm(pool.path);
    execFileSync("mkfifo", ["-m", "0600", pool.path]);
    for (const args of [["list"], ["add", "openrouter", "--api-key-stdin"], ["doctor"]]) {
      // A hang would end in SIGKILL from the timeout and fail the exit-code check.
      const result = await pool.run(args, { input: fixtureSecret("sk-or-v1-"), timeoutMs: 15_000 });
      expect(result.signal, args.join(" ")).toBeNull();
      expect(result.stderr + result.stdout, args.join(" ")).toContain(`${pool.path}: it is a FIFO, not a regular file`);
    }
    expect((await stat(pool.path)).isFIFO()).toBe(true);
  });

  it("fails with exit 8 naming a directory", async () => {
    const pool = await freshPool();
    await rm(pool.path);
    await mkdir(pool.path);
    const result = await pool.run(["list"]);
    expect(result.code).toBe(8);
    expect(result.stderr).toContain(`${pool.path}: it is a directory, not a regular file`);
  });
});
