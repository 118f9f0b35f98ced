// `secrets release never`: the pool's keys never leave credpool. Leases and exec hand out no key, in every process
// that opens the document, and the commands that decide which key serves need a TOTP code.
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  beginTotpSetup,
  confirmTotpSetup,
  generateTotpCode,
  openPool,
  type BeginTotpSetupResult,
} from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { useTestPools, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();

async function configureTotp(pool: TestPool): Promise<BeginTotpSetupResult> {
  const home = dirname(pool.path);
  const setup = await beginTotpSetup({ home, label: "test" });
  await confirmTotpSetup({
    home,
    principal: "test-setup",
    code: generateTotpCode({ secret: setup.secret, algorithm: setup.algorithm, timestamp: Date.now() - 30_000 }),
  });
  return setup;
}

/** A fresh code each call: the gate refuses a replayed step, so successive calls use the current, then the next. */
function codes(setup: BeginTotpSetupResult): () => string {
  let step = 0;
  return () =>
    generateTotpCode({ secret: setup.secret, algorithm: setup.algorithm, timestamp: Date.now() + step++ * 30_000 });
}

async function poolDocument(
  pool: TestPool,
): Promise<{ settings?: unknown; providers: Record<string, { credentials: { label: string; priority: number }[] }> }> {
  return JSON.parse(await readFile(pool.path, "utf8")) as never;
}

describe("secrets release never", () => {
  it("is stored in the pool document and shown by `secrets release`", async () => {
    const pool = await freshPool();
    const before = await pool.run(["secrets", "release", "--json"]);
    expect(JSON.parse(before.stdout)).toEqual({ release: "lease", isDefault: true });
    const set = await pool.run(["secrets", "release", "never"]);
    expect(set.code, set.stderr).toBe(0);
    expect((await poolDocument(pool)).settings).toEqual({ secrets: { release: "never" } });
    const after = await pool.run(["secrets", "release"]);
    expect(after.stdout).toBe("secrets.release: never\n");
  });

  it("makes `lease` print no key and exit 16 naming the setting, as text and as JSON", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const leased = await pool.run(["lease", "anthropic"], { revealsSecrets: true });
    expect(leased.code, leased.stderr).toBe(0);
    await pool.run(["release", /CREDPOOL_LEASE_ID='?([\w-]+)/.exec(leased.stdout)?.[1] ?? ""]);
    expect((await pool.run(["secrets", "release", "never"])).code).toBe(0);
    for (const args of [
      ["lease", "anthropic"],
      ["lease", "anthropic", "--json"],
    ]) {
      const refused = await pool.run(args);
      expect(refused.code).toBe(16);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toContain("settings.secrets.release");
    }
  });

  it("makes `exec` refuse without running the command", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    expect((await pool.run(["secrets", "release", "never"])).code).toBe(0);
    const refused = await pool.run([
      "exec",
      "anthropic",
      "--",
      process.execPath,
      "-e",
      "console.log('ran:' + process.env.ANTHROPIC_API_KEY)",
    ]);
    expect(refused.code).toBe(16);
    expect(refused.stdout).not.toContain("ran:");
    expect(refused.stderr).toContain("settings.secrets.release");
  });

  it("needs a TOTP code to set, and to set back to lease, once TOTP is configured", async () => {
    const pool = await freshPool();
    const next = codes(await configureTotp(pool));
    const noCode = await pool.run(["secrets", "release", "never"]);
    expect(noCode.code).toBe(9);
    expect((await poolDocument(pool)).settings).toBeUndefined();
    expect((await pool.run(["secrets", "release", "never", "--totp-code", next()])).code).toBe(0);
    const back = await pool.run(["secrets", "release", "lease"]);
    expect(back.code).toBe(9);
    expect((await poolDocument(pool)).settings).toEqual({ secrets: { release: "never" } });
    expect((await pool.run(["secrets", "release", "lease", "--totp-code", next()])).code).toBe(0);
    expect((await poolDocument(pool)).settings).toEqual({ secrets: { release: "lease" } });
  });

  it("gates priority and reset with TOTP only in this mode", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "anthropic", label: "work" },
      { provider: "anthropic", label: "spare" },
    ]);
    const next = codes(await configureTotp(pool));
    // "lease": priority and reset stay ungated, as agents that lease keys use them.
    expect((await pool.run(["priority", "spare", "-1"])).code).toBe(0);
    expect((await pool.run(["reset", "anthropic"])).code).toBe(0);

    // Set in the document by another process (the gate allows two more codes in this window: kept for below).
    const other = await openPool({ file: { path: pool.path } });
    await other.setSecretRelease("never");
    await other.close();
    const priority = await pool.run(["priority", "work", "-5"]);
    expect(priority.code).toBe(9);
    expect(priority.stderr).toContain("needs a TOTP code");
    const reset = await pool.run(["reset", "anthropic", "work"]);
    expect(reset.code).toBe(9);
    const strategy = await pool.run(["strategy", "anthropic", "round_robin"]);
    expect(strategy.code).toBe(9);
    const remove = await pool.run(["remove", "spare"]);
    expect(remove.code).toBe(9);
    const labels = (await poolDocument(pool)).providers.anthropic?.credentials.map((c) => [c.label, c.priority]);
    expect(labels).toEqual([
      ["work", 0],
      ["spare", -1],
    ]);

    expect((await pool.run(["priority", "work", "-5", "--totp-code", next()])).code).toBe(0);
    expect((await pool.run(["reset", "anthropic", "--totp-code", next()])).code).toBe(0);
  });
});
