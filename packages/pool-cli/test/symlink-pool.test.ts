// A pool.json that is a symlink: every write would land in the file it points at, outside the pool directory.
// Commands refuse it unless --allow-symlink is given, and doctor reports it. Real symlinks, real processes.
import { mkdir, readFile, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtureSecret, runCli, useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();

interface DoctorJson {
  findings: { check: string; severity: string; message: string }[];
}

/** A real pool elsewhere, and a pool directory whose pool.json is a symlink to it. */
async function symlinkedPool() {
  const outside = await freshPool();
  const linkDir = join(outside.dir.path, "linked");
  await mkdir(linkDir, { mode: 0o700 });
  const link = join(linkDir, "pool.json");
  await symlink(outside.path, link);
  return { outside, link, linkDir };
}

describe("a pool.json that is a symlink", () => {
  it("is refused by list and add, with a message naming the link, its target and the fixes", async () => {
    const { outside, link } = await symlinkedPool();
    const before = await readFile(outside.path, "utf8");

    const list = await runCli(["list"], { pool: link });
    expect(list.code).not.toBe(0);
    expect(list.stderr).toContain(`Refusing ${link}: it is a symbolic link to ${outside.path}`);
    expect(list.stderr).toContain("--allow-symlink");
    expect(list.stderr).toContain(`mv ${outside.path} ${link}`);

    const add = await runCli(["add", "anthropic", "--api-key-stdin"], { pool: link, input: fixtureSecret() });
    expect(add.code).not.toBe(0);
    expect(add.stderr).toContain(`Refusing ${link}: it is a symbolic link`);
    // Nothing went through the link into the outside file.
    expect(await readFile(outside.path, "utf8")).toBe(before);
  });

  it("is refused even when it dangles, so nothing is created through it", async () => {
    const pool = await freshPool({ init: false });
    const dir = dirname(pool.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const target = join(pool.dir.path, "elsewhere.json");
    await symlink(target, pool.path);
    const init = await pool.run(["init"]);
    expect(init.code).not.toBe(0);
    expect(init.stderr).toContain(`Refusing ${pool.path}: it is a symbolic link to ${target}`);
    await expect(readFile(target)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("works with --allow-symlink, writing into the target", async () => {
    const { outside, link } = await symlinkedPool();
    const add = await runCli(["--allow-symlink", "add", "anthropic", "--label", "work", "--api-key-stdin"], {
      pool: link,
      input: fixtureSecret(),
    });
    expect(add.code, add.stderr).toBe(0);
    const list = await runCli(["list", "--json", "--allow-symlink"], { pool: link });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('"work"');
    expect(await readFile(outside.path, "utf8")).toContain('"work"');
  });

  it("is an error finding in doctor, and a warning with --allow-symlink", async () => {
    const { outside, link } = await symlinkedPool();
    const doctor = await runCli(["doctor", "--json"], { pool: link });
    expect(doctor.code).toBe(1);
    const findings = (JSON.parse(doctor.stdout) as DoctorJson).findings.filter((finding) =>
      finding.message.includes("symbolic link"),
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ check: "pool-file", severity: "error" });
    expect(findings[0]?.message).toContain(`${link} is a symbolic link to ${outside.path}`);

    const allowed = await runCli(["--allow-symlink", "doctor", "--json"], { pool: link });
    const allowedFindings = (JSON.parse(allowed.stdout) as DoctorJson).findings.filter((finding) =>
      finding.message.includes("symbolic link"),
    );
    expect(allowedFindings.map((finding) => finding.severity)).toEqual(["warning"]);
  });
});
