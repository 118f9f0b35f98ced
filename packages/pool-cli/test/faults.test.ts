// What the CLI does when the pool is damaged, unwritable or locked, and how doctor finds and repairs it.
import { chmod, chown, mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { acquireFileLock } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { fixtureSecret, useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();

const NOBODY = 65534;

describe("a corrupt pool", () => {
  it("fails with exit 7 naming the file and the position, and leaves the file untouched", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const text = await readFile(pool.path, "utf8");
    const truncated = text.slice(0, Math.floor(text.length / 2));
    await writeFile(pool.path, truncated);
    for (const args of [["list"], ["show", "work"], ["add", "anthropic", "--api-key-stdin"], ["lease", "anthropic"]]) {
      const result = await pool.run(args, { input: fixtureSecret() });
      expect(result.code, args.join(" ")).toBe(7);
      expect(result.stderr).toContain(`${pool.path} is corrupt: invalid JSON at line`);
      expect(result.stderr).not.toContain(truncated.slice(-20));
    }
    expect(await readFile(pool.path, "utf8")).toBe(truncated);
  });

  it("fails with exit 7 when valid JSON does not match the schema", async () => {
    const pool = await freshPool();
    await writeFile(
      pool.path,
      JSON.stringify({
        schemaVersion: 1,
        rev: 3,
        updatedAt: "x",
        providers: { anthropic: { credentials: [{ id: 5 }] } },
      }),
    );
    const result = await pool.run(["list"]);
    expect(result.code).toBe(7);
    expect(result.stderr).toContain(`${pool.path} does not match the pool schema`);
  });

  it("doctor reports it and --restore brings back the backup, keeping the damaged file", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "anthropic", label: "one" },
      { provider: "anthropic", label: "two" },
    ]);
    const backupRev = (JSON.parse(await readFile(`${pool.path}.bak`, "utf8")) as { rev: number }).rev;
    await writeFile(pool.path, '{"schemaVersion": 1, "rev": 3, "upd');

    const diagnosis = await pool.run(["doctor"]);
    expect(diagnosis.code).toBe(1);
    expect(diagnosis.stdout).toMatch(/FAIL {2}schema: .* is corrupt/);
    expect(diagnosis.stdout).toContain(
      `Restore the last good copy (rev ${backupRev}) with \`credpool doctor --restore\``,
    );

    const restored = await pool.run(["doctor", "--restore", "--json"]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    const body = JSON.parse(restored.stdout) as { ok: boolean; repaired: { check: string; message: string }[] };
    expect(body.ok).toBe(true);
    expect(body.repaired[0]?.message).toMatch(
      new RegExp(
        `restored .* to rev ${backupRev} \\(committed [0-9T:.-]+Z\\), published as rev 4; the damaged file was rev 3, so changes after rev ${backupRev} are lost; the damaged file is kept as .*\\.corrupt-`,
      ),
    );
    const kept = (await readdir(dirname(pool.path))).filter((name) => name.includes(".corrupt-"));
    expect(kept).toHaveLength(1);
    expect(await readFile(join(dirname(pool.path), kept[0] ?? ""), "utf8")).toBe('{"schemaVersion": 1, "rev": 3, "upd');

    const list = await pool.run(["list", "--json"]);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { rev: number; credentials: unknown[] }).rev).toBe(4);

    const again = await pool.run(["doctor", "--restore"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("is valid; --restore only replaces a corrupt or missing pool");
  });
});

describe("a read-only pool directory", () => {
  it("lets list work and fails add with exit 8 and the errno", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const dir = dirname(pool.path);
    // Root ignores permission bits, so as root the commands run as nobody on files nobody owns.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      await chmod(pool.dir.path, 0o755);
      for (const entry of [dir, ...(await readdir(dir)).map((name) => join(dir, name))])
        await chown(entry, NOBODY, NOBODY);
    }
    await chmod(dir, 0o500);
    const as = asRoot ? { uid: NOBODY, gid: NOBODY } : {};

    const list = await pool.run(["list"], as);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("work");

    const add = await pool.run(["add", "anthropic", "--api-key-stdin"], { ...as, input: fixtureSecret() });
    expect(add.code).toBe(8);
    expect(add.stderr).toMatch(/Could not .*: EACCES/);
  });
});

describe("a locked pool", () => {
  it("times out with exit 6, saying which lock and what to do", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const held = await acquireFileLock(pool.path, `${pool.path}.lock`, { staleMs: 4000, timeoutMs: 1000 });
    try {
      const started = Date.now();
      const add = await pool.run(["add", "anthropic", "--api-key-stdin"], {
        input: fixtureSecret(),
        env: { CREDPOOL_LOCK_TIMEOUT_MS: "300" },
      });
      expect(add.code).toBe(6);
      expect(add.stderr).toMatch(
        new RegExp(`Timed out after \\d+ ms waiting for the lock ${pool.path}\\.lock \\(held for \\d+ ms\\)`),
      );
      expect(add.stderr).toContain("credpool doctor");
      expect(Date.now() - started).toBeLessThan(4000);

      const doctor = await pool.run(["doctor", "--json"]);
      const lock = (JSON.parse(doctor.stdout) as { findings: { check: string; message: string }[] }).findings.find(
        (finding) => finding.check === "lock",
      );
      expect(lock?.message).toMatch(/is held by a live process for \d+ (ms|s)/);
    } finally {
      await held.release();
    }
    const after = await pool.run(["add", "anthropic", "--api-key-stdin"], {
      input: fixtureSecret(),
      env: { CREDPOOL_LOCK_TIMEOUT_MS: "300" },
    });
    expect(after.code, after.stderr).toBe(0);
  });

  it("rejects a malformed CREDPOOL_LOCK_TIMEOUT_MS", async () => {
    const pool = await freshPool();
    const result = await pool.run(["reset", "anthropic"], { env: { CREDPOOL_LOCK_TIMEOUT_MS: "soon" } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CREDPOOL_LOCK_TIMEOUT_MS must be a whole number");
  });
});

describe("credpool doctor", () => {
  it("passes on a fresh pool", async () => {
    const pool = await freshPool();
    const result = await pool.run(["doctor"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("all checks passed");
  });

  it("finds loose modes, a stale lock and leftover temp files, each with its fix, and --fix repairs them", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const dir = dirname(pool.path);
    await chmod(dir, 0o755);
    await chmod(pool.path, 0o644);
    await writeFile(`${pool.path}.123456`, "half a write");
    await mkdir(`${pool.path}.lock`);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${pool.path}.lock`, old, old);

    const before = await pool.run(["doctor", "--json"]);
    expect(before.code).toBe(1);
    const findings = (
      JSON.parse(before.stdout) as {
        findings: { check: string; severity: string; fix: string | null; fixable: boolean }[];
      }
    ).findings;
    const bad = Object.fromEntries(
      findings.filter((finding) => finding.severity !== "ok").map((finding) => [finding.check, finding]),
    );
    expect(bad["pool-file"]).toMatchObject({
      severity: "error",
      fix: `chmod 600 ${pool.path} (or \`credpool doctor --fix\`)`,
      fixable: true,
    });
    expect(bad["pool-dir"]).toMatchObject({ severity: "warning", fixable: true });
    expect(bad.lock).toMatchObject({ severity: "warning", fixable: true });
    expect(bad["temp-files"]).toMatchObject({ severity: "warning", fixable: true });

    const text = await pool.run(["doctor"]);
    expect(text.stdout).toMatch(/warn {2}lock: .*\.lock is stale: taken \d+ m?s ago and not refreshed for \d+ s/);
    expect(text.stdout).toContain("Run `credpool doctor --fix` for the safe fixes.");

    const fixed = await pool.run(["doctor", "--fix"]);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(fixed.stdout).toContain("fixed pool-file: chmod 0644 → 0600");
    expect(fixed.stdout).toContain("all checks passed");
    expect((await stat(pool.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await readdir(dir)).not.toContain("pool.json.123456");
  });

  it("says to run init when there is no pool", async () => {
    const pool = await freshPool({ init: false });
    const result = await pool.run(["doctor"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("There is no pool directory");
    expect(result.stdout).toContain("Run `credpool init`");
  });
});
