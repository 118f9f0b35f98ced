// `credpool totp setup|status|reset` as real processes with no terminal: the two-step setup, status exit codes,
// reset with a code (--force is in totp-gate.test.ts), fail-closed reporting, and start-up errors that name the setting.
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { beginTotpSetup, confirmTotpSetup, generateTotpCode } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { useTestPools, type TestPool } from "./helpers/cli.js";

/** No `credpool init`: TOTP lives next to the pool and needs no pool file, and every process start counts here. */
const freshPool = useTestPools({ init: false });

interface Enrolment {
  secret: string;
  uri: string;
  pendingPath: string | null;
  install: string[] | null;
}

function codeFor(secret: string, offsetSteps = 0): string {
  return generateTotpCode({ secret, algorithm: "SHA1", timestamp: Date.now() + offsetSteps * 30_000 });
}

/** A code that matches no step near now. */
function wrongCode(secret: string): string {
  const near = new Set([-2, -1, 0, 1, 2].map((offset) => codeFor(secret, offset)));
  for (let n = 0; ; n++) {
    const code = String(100_000 + n * 7919).slice(-6);
    if (!near.has(code)) return code;
  }
}

/**
 * Setup through core (the CLI's two steps have their own test), confirmed with the previous step's code so the
 * current one is still unused. Saves two process starts per test.
 */
async function setUpTotp(pool: TestPool): Promise<string> {
  const home = dirname(pool.path);
  const { secret } = await beginTotpSetup({ home, label: "test" });
  await confirmTotpSetup({ home, principal: "test-setup", code: codeFor(secret, -1) });
  return secret;
}

describe("credpool totp", () => {
  it("without a subcommand prints help and exits 2; --help lists the subcommands; a fresh pool is not configured (exit 15)", async () => {
    const pool = await freshPool();
    const bare = await pool.run(["totp"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("Usage: credpool totp <setup|status|reset>");
    const help = await pool.run(["totp", "--help"]);
    expect(help.code).toBe(0);
    for (const word of ["setup", "status", "reset", "--confirm", "--force", "Examples:"])
      expect(help.stdout).toContain(word);
    const unknown = await pool.run(["totp", "frob"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/use setup, status or reset/);
    expect(help.stdout).not.toContain("--confirm-text");
    const status = await pool.run(["totp", "status"]);
    expect(status.code).toBe(15);
    expect(status.stdout).toMatch(/^TOTP: not configured/);
    // Nothing to reset is its own answer, not a demand for a code.
    const reset = await pool.run(["totp", "reset"]);
    expect(reset.code).toBe(15);
    expect(reset.stderr).toMatch(/nothing to reset/);
  });

  it("sets up in two steps without a terminal: the secret and QR first, then --confirm CODE", async () => {
    const pool = await freshPool();
    const home = dirname(pool.path);
    const first = await pool.run(["totp", "setup"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("Scan this with your authenticator app");
    expect(first.stdout).toContain("▄"); // the terminal QR code
    const secret = /Secret for manual entry: ([A-Z2-7 ]+)/.exec(first.stdout)?.[1]?.replace(/ /g, "") ?? "";
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(first.stdout).toContain("TOTP is NOT active yet");
    expect(first.stdout).toContain("credpool totp setup --confirm CODE");
    expect((await stat(join(home, "totp.secret.pending"))).mode & 0o777).toBe(0o600);

    // Pending is not active: gated commands still run without a code.
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    expect((await pool.run(["reveal", "work"], { revealsSecrets: true })).code).toBe(0);

    const malformed = await pool.run(["totp", "setup", "--confirm", "12 345"]);
    expect(malformed.code).toBe(9);
    expect(malformed.stderr).toMatch(/did not count as an attempt/);
    const wrong = await pool.run(["totp", "setup", "--confirm", wrongCode(secret)]);
    expect(wrong.code).toBe(9);
    expect(wrong.stderr).toMatch(/Wrong TOTP code/);

    const confirmed = await pool.run(["totp", "setup", "--confirm", codeFor(secret, -1)]);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toMatch(/TOTP is set up/);
    expect((await readFile(join(home, "totp.secret"), "utf8")).trim()).toBe(secret);
    expect((await stat(join(home, "totp.secret"))).mode & 0o777).toBe(0o600);

    const status = await pool.run(["totp", "status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^TOTP: configured since/);
    expect(status.stdout).not.toContain(secret);
    const gated = await pool.run(["reveal", "work"]);
    expect(gated.code).toBe(9);
    expect(gated.stderr).toContain("--totp-code");
  });

  it("setup --json gives the secret and otpauth URI for scripts, and a second setup is refused with exit 13", async () => {
    const pool = await freshPool();
    const begun = await pool.run(["totp", "setup", "--json", "--label", "ops"]);
    const enrolment = JSON.parse(begun.stdout) as Enrolment;
    expect(enrolment.uri).toBe(
      `otpauth://totp/credpool:ops?issuer=credpool&secret=${enrolment.secret}&algorithm=SHA1&digits=6&period=30`,
    );
    await confirmTotpSetup({ home: dirname(pool.path), principal: "test-setup", code: codeFor(enrolment.secret, -1) });
    const again = await pool.run(["totp", "setup"]);
    expect(again.code).toBe(13);
    expect(again.stderr).toMatch(/already set up.*credpool totp reset/);
  });

  it("locks out after three wrong codes; status then exits 10 and says for how long", async () => {
    const pool = await freshPool();
    const secret = await setUpTotp(pool);
    const wrong = wrongCode(secret);
    expect((await pool.run(["totp", "reset", "--totp-code", wrong])).code).toBe(9);
    expect((await pool.run(["totp", "reset", "--totp-code", wrong])).code).toBe(9);
    const third = await pool.run(["totp", "reset", "--totp-code", wrong, "--json"]);
    expect(third.code).toBe(10);
    expect(JSON.parse(third.stderr)).toMatchObject({ error: { code: "E_TOTP_LOCKED", exitCode: 10 } });
    // Even the right code is refused now, in a new process.
    expect((await pool.run(["totp", "reset", "--totp-code", codeFor(secret)])).code).toBe(10);

    const status = await pool.run(["totp", "status", "--json"]);
    expect(status.code).toBe(10);
    const report = JSON.parse(status.stdout) as { block: { remainingMs: number } };
    expect(report).toMatchObject({ state: "configured", failures: 3, block: { reason: "lockout" }, exitCode: 10 });
    expect(report.block.remainingMs).toBeGreaterThan(14 * 60_000);
  });

  it("reset with a valid code turns TOTP off", async () => {
    const pool = await freshPool();
    const secret = await setUpTotp(pool);
    const reset = await pool.run(["totp", "reset", "--totp-code", codeFor(secret)]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain(`removed ${join(dirname(pool.path), "totp.secret")}`);
    await expect(stat(join(dirname(pool.path), "auth-state.json"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("reports a group-readable secret as broken (exit 11) with the exact fix, and refuses gated commands", async () => {
    const pool = await freshPool();
    const secret = await setUpTotp(pool);
    const secretPath = join(dirname(pool.path), "totp.secret");
    await chmod(secretPath, 0o644);
    const status = await pool.run(["totp", "status"]);
    expect(status.code).toBe(11);
    expect(status.stdout).toMatch(/^TOTP: broken/);
    expect(status.stdout).toContain(`chmod 600 ${secretPath}`);
    expect(status.stdout).not.toContain(secret);
    const reset = await pool.run(["totp", "reset", "--totp-code", codeFor(secret)]);
    expect(reset.code).toBe(11);
    expect(reset.stderr).toMatch(/--force/);
  });

  it("reports a truncated auth-state.json as broken, never as not configured", async () => {
    const pool = await freshPool();
    await setUpTotp(pool);
    const statePath = join(dirname(pool.path), "auth-state.json");
    const text = await readFile(statePath, "utf8");
    await writeFile(statePath, text.slice(0, 40));
    const status = await pool.run(["totp", "status", "--json"]);
    expect(status.code).toBe(11);
    const report = JSON.parse(status.stdout) as { state: string; problem: { code: string; message: string } };
    expect(report.state).toBe("broken");
    expect(report.problem.code).toBe("E_TOTP_STATE");
    expect(report.problem.message).toContain(statePath);
  });

  it("rejects an out-of-range setting at start-up, naming the field and the variable (exit 2)", async () => {
    const pool = await freshPool();
    const status = await pool.run(["totp", "status"], { env: { CREDPOOL_TOTP_LOCKOUT_MINUTES: "0" } });
    expect(status.code).toBe(2);
    expect(status.stderr).toContain(
      "totp.lockoutMinutes (from CREDPOOL_TOTP_LOCKOUT_MINUTES): must be at least 1 minutes",
    );
  });

  it("with a secret command: prints the install and sudoers lines, and a failing command is broken (exit 11)", async () => {
    const pool = await freshPool();
    const configPath = join(dirname(pool.path), "config.json");
    await mkdir(dirname(configPath), { recursive: true, mode: 0o700 });
    await writeFile(
      configPath,
      JSON.stringify({ totp: { secretCommand: ["/usr/bin/sudo", "-n", "/usr/bin/cat", "/etc/credpool/totp.secret"] } }),
    );
    const setup = await pool.run(["totp", "setup", "--no-qr"]);
    expect(setup.code, setup.stderr).toBe(0);
    expect(setup.stdout).toMatch(/ALL=\(root\) NOPASSWD: \/usr\/bin\/cat \/etc\/credpool\/totp\.secret/);
    expect(setup.stdout).toContain("sudo chmod 0440 /etc/sudoers.d/credpool-totp");
    expect(setup.stdout).not.toContain("▄");
    await writeFile(configPath, JSON.stringify({ totp: { secretCommand: ["/bin/false"] } }));
    const status = await pool.run(["totp", "status"]);
    expect(status.code).toBe(11);
    expect(status.stdout).toMatch(/secret command `\/bin\/false` exited with status 1/);
  });
});
