// The TOTP gate against an agent that can run `credpool` as the same user but cannot write $CREDPOOL_HOME: the gate
// travels with the pool document, the environment cannot loosen it, a forced reset needs a terminal, lost or restored
// state cannot buy guesses, and a FIFO in place of a gate file is refused instead of hanging. All real processes.
import { spawn, spawnSync } from "node:child_process";
import { copyFile, link, mkdir, readFile, rename, symlink, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { beginTotpSetup, confirmTotpSetup, generateTotpCode } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import {
  cliArgs,
  fixtureSecret,
  recordOutput,
  runCli,
  useTestPools,
  type CliResult,
  type TestPool,
} from "./helpers/cli.js";

const freshPool = useTestPools();

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
 * Sets TOTP up the way a person would, through the CLI. The code is the current step's, computed before the child
 * starts: if a step boundary passes meanwhile it is the previous step, still inside the ±1 window (the step before
 * that would not be). Later valid codes use the next step, so they are never replays of this one.
 */
async function setUpTotp(pool: TestPool): Promise<string> {
  const begun = await pool.run(["totp", "setup", "--no-qr", "--json"]);
  expect(begun.code, begun.stderr).toBe(0);
  const { secret } = JSON.parse(begun.stdout) as { secret: string };
  const confirmed = await pool.run(["totp", "setup", "--confirm", codeFor(secret)]);
  expect(confirmed.code, confirmed.stderr).toBe(0);
  return secret;
}

/** A pool with one credential and TOTP on; returns the key and the TOTP secret. */
async function gatedPool(): Promise<{ pool: TestPool; key: string; secret: string }> {
  const pool = await freshPool();
  const key = fixtureSecret();
  await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: key } }]);
  const secret = await setUpTotp(pool);
  return { pool, key, secret };
}

async function auditLines(pool: TestPool): Promise<{ type: string; reason?: string; forced?: boolean }[]> {
  const text = await readFile(join(dirname(pool.path), "audit.log"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { type: string; reason?: string; forced?: boolean });
}

/** Runs the CLI with a pseudo-terminal as its stdin and stderr (util-linux `script`), typing `input`. */
function runCliOnTerminal(args: readonly string[], pool: string, input: string): Promise<CliResult> {
  const command = cliArgs(args, pool)
    .map((part) => `'${part.replaceAll("'", `'\\''`)}'`)
    .join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qfec", `${process.execPath} ${command}`, "/dev/null"], {
      env: { ...process.env, NO_COLOR: "1", CREDPOOL_HOME: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      recordOutput(`credpool ${args.join(" ")} (on a terminal)`, `${stdout}\n${stderr}`);
      resolve({ args, code, signal, stdout, stderr });
    });
  });
}

describe("the TOTP gate travels with the pool", () => {
  it("reveal through a hard link, a symlink or CREDPOOL_HOME in another directory still needs a code", async () => {
    const { pool, key, secret } = await gatedPool();
    const elsewhere = join(pool.dir.path, "elsewhere");
    await mkdir(join(elsewhere, "hard"), { recursive: true });
    await mkdir(join(elsewhere, "soft"), { recursive: true });
    const hardLink = join(elsewhere, "hard", "pool.json");
    const softLink = join(elsewhere, "soft", "pool.json");
    await link(pool.path, hardLink);
    await symlink(pool.path, softLink);

    for (const via of [hardLink, softLink]) {
      // A symlinked pool is refused outright unless allowed; allowed, it still reaches the gate.
      const denied = await runCli(["--allow-symlink", "reveal", "work"], { pool: via });
      expect(denied.code, `${via}: ${denied.stderr}`).toBe(9);
      expect(denied.stderr).toContain("needs a TOTP code");
      expect(denied.stdout).not.toContain(key);
    }
    const throughHome = await runCli(["reveal", "work"], { env: { CREDPOOL_HOME: join(elsewhere, "hard") } });
    expect(throughHome.code, throughHome.stderr).toBe(9);
    expect(throughHome.stdout).not.toContain(key);

    // The gate is the real directory's: a code works through the link, and the attempt is counted there.
    const allowed = await runCli(["--allow-symlink", "reveal", "work", "--totp-code", codeFor(secret, 1)], {
      pool: softLink,
      revealsSecrets: true,
    });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toBe(`${key}\n`);
  });

  it("a gate confirmed before the pool recorded it is recorded at the first gated command, and then travels", async () => {
    const pool = await freshPool();
    const key = fixtureSecret();
    await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: key } }]);
    // As an older credpool did it: the gate lives in the directory only, and the pool knows nothing of it.
    const home = dirname(pool.path);
    const { secret } = await beginTotpSetup({ home, label: "test" });
    await confirmTotpSetup({ home, principal: "test-setup", code: codeFor(secret) });
    expect(JSON.parse(await readFile(pool.path, "utf8"))).not.toHaveProperty("gate");

    const allowed = await pool.run(["reveal", "work", "--totp-code", codeFor(secret, 1)], { revealsSecrets: true });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(await readFile(pool.path, "utf8"))).toHaveProperty("gate.home", home);
    await mkdir(join(pool.dir.path, "elsewhere"));
    const softLink = join(pool.dir.path, "elsewhere", "pool.json");
    await symlink(pool.path, softLink);
    const denied = await runCli(["--allow-symlink", "reveal", "work"], { pool: softLink });
    expect(denied.code).toBe(9);
    expect(denied.stdout).not.toContain(key);
  });

  it("fails closed with E_TOTP_STATE naming the missing state when the pool's gate directory has lost it", async () => {
    const { pool, secret } = await gatedPool();
    // Everything the directory held for the gate is gone; only the pool's record still says there was one.
    const statePath = join(dirname(pool.path), "auth-state.json");
    await rename(statePath, `${statePath}.moved`);
    await unlink(`${statePath}.bak`);
    await unlink(join(dirname(pool.path), "totp.secret"));
    const denied = await pool.run(["reveal", "work", "--totp-code", codeFor(secret, 1)]);
    expect(denied.code).toBe(11);
    expect(denied.stderr).toContain(statePath);
    expect(denied.stderr).toMatch(/is missing/);
  });
});

describe("only config.json can loosen the gate", () => {
  it("an agent's CREDPOOL_TOTP_LOCKOUT_ATTEMPTS=100 and BURST_ATTEMPTS=1000 still lock out after the configured 3 wrong codes", async () => {
    const { pool, key, secret } = await gatedPool();
    const env = { CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "100", CREDPOOL_TOTP_BURST_ATTEMPTS: "1000" };
    const exits: (number | null)[] = [];
    let last: CliResult | undefined;
    for (let guess = 0; guess < 5; guess++) {
      last = await pool.run(["reveal", "work", "--totp-code", wrongCode(secret)], { env });
      exits.push(last.code);
      expect(last.stdout).not.toContain(key);
    }
    expect(exits).toEqual([9, 9, 10, 10, 10]);
    expect(last?.stderr).toContain("CREDPOOL_TOTP_LOCKOUT_ATTEMPTS=100 is ignored");
    expect(last?.stderr).toContain("CREDPOOL_TOTP_BURST_ATTEMPTS=1000 is ignored");
    // Even the right code is refused now.
    const valid = await pool.run(["reveal", "work", "--totp-code", codeFor(secret, 1)], { env });
    expect(valid.code).toBe(10);
  });

  it("a stricter variable is used, and a different secret file from the environment is ignored with a warning", async () => {
    const { pool, secret } = await gatedPool();
    const stricter = await pool.run(["reveal", "work", "--totp-code", wrongCode(secret)], {
      env: { CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "1" },
    });
    expect(stricter.code).toBe(10);

    const other = await freshPool({ init: false });
    const agentSecret = join(other.dir.path, "mine.secret");
    const status = await pool.run(["totp", "status", "--json"], { env: { CREDPOOL_TOTP_SECRET_FILE: agentSecret } });
    expect(status.stderr).toContain("CREDPOOL_TOTP_SECRET_FILE is ignored");
    expect((JSON.parse(status.stdout) as { secretSource: { path: string } }).secretSource.path).toBe(
      join(dirname(pool.path), "totp.secret"),
    );
  });
});

describe("totp reset --force", () => {
  it("is refused without a terminal, --confirm-text is no way round it, and the refusal is in audit.log", async () => {
    const { pool, key } = await gatedPool();
    const refused = await pool.run(["totp", "reset", "--force"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("needs a person at a terminal");
    const bypass = await pool.run(["totp", "reset", "--force", "--confirm-text", "reset totp"]);
    expect(bypass.code).toBe(2);
    const reveal = await pool.run(["reveal", "work"]);
    expect(reveal.code).toBe(9);
    expect(reveal.stdout).not.toContain(key);
    expect(await auditLines(pool)).toContainEqual(
      expect.objectContaining({ type: "totp.reset.refused", reason: "no-terminal", forced: true }),
    );
  });

  it("works for a person at a terminal who types the phrase, and is written to audit.log", async () => {
    const { pool } = await gatedPool();
    const reset = await runCliOnTerminal(["totp", "reset", "--force"], pool.path, "reset totp\n");
    expect(reset.code, reset.stdout).toBe(0);
    expect(reset.stdout).toContain("TOTP is off");
    expect(await auditLines(pool)).toContainEqual(
      expect.objectContaining({ type: "totp.reset", reason: "forced", forced: true }),
    );
    const status = await pool.run(["totp", "status"]);
    expect(status.code).toBe(15);
  });

  it("with a secret command, needs that command to succeed even at a terminal", async () => {
    const pool = await freshPool();
    const home = dirname(pool.path);
    // Stands in for `sudo -n cat /etc/credpool/totp.secret`: a file the command reads, outside the pool directory.
    const outside = join(pool.dir.path, "root-only.secret");
    const config = { secretCommand: ["cat", outside] };
    await writeFile(join(home, "config.json"), JSON.stringify({ totp: config }), { mode: 0o600 });
    const begun = await beginTotpSetup({ home, label: "test", config });
    await writeFile(outside, `${begun.secret}\n`, { mode: 0o600 });
    await confirmTotpSetup({ home, poolPath: pool.path, config, principal: "test-setup", code: codeFor(begun.secret) });

    await rename(outside, `${outside}.away`);
    const refused = await runCliOnTerminal(["totp", "reset", "--force"], pool.path, "reset totp\n");
    expect(refused.code).toBe(11);
    expect(refused.stdout).toContain("needs the secret command to succeed");
    expect(await auditLines(pool)).toContainEqual(
      expect.objectContaining({ type: "totp.reset.refused", reason: "secret-command-failed" }),
    );

    await rename(`${outside}.away`, outside);
    const reset = await runCliOnTerminal(["totp", "reset", "--force"], pool.path, "reset totp\n");
    expect(reset.code, reset.stdout).toBe(0);
    expect(JSON.parse(await readFile(pool.path, "utf8"))).not.toHaveProperty("gate");
  });

  it("with a code is written to audit.log too", async () => {
    const { pool, secret } = await gatedPool();
    const reset = await pool.run(["totp", "reset", "--totp-code", codeFor(secret, 1)]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await auditLines(pool)).toContainEqual(
      expect.objectContaining({ type: "totp.reset", reason: "code", forced: false }),
    );
  });
});

describe("lost or restored state buys no guesses", () => {
  it("after auth-state.json is deleted, every gated command and `totp setup --confirm` are E_TOTP_STATE", async () => {
    const { pool, secret } = await gatedPool();
    await unlink(join(dirname(pool.path), "auth-state.json"));
    await unlink(join(dirname(pool.path), "auth-state.json.bak"));
    const reveal = await pool.run(["reveal", "work", "--totp-code", codeFor(secret, 1)]);
    expect(reveal.code).toBe(11);
    const confirm = await pool.run(["totp", "setup", "--confirm", codeFor(secret, 1)]);
    expect(confirm.code).toBe(11);
    expect(confirm.stderr).toContain("auth-state.json");
    const setup = await pool.run(["totp", "setup", "--no-qr"]);
    expect(setup.code).toBe(11);
    const status = await pool.run(["totp", "status"]);
    expect(status.code).toBe(11);
  });

  it("a restored copy of auth-state.json older than the spent guesses is refused", async () => {
    const { pool, secret } = await gatedPool();
    const statePath = join(dirname(pool.path), "auth-state.json");
    await copyFile(statePath, join(pool.dir.path, "saved-state.json"));
    const wrong = await pool.run(["reveal", "work", "--totp-code", wrongCode(secret)]);
    expect(wrong.code).toBe(9);
    await copyFile(join(pool.dir.path, "saved-state.json"), statePath);
    const valid = await pool.run(["reveal", "work", "--totp-code", codeFor(secret, 1)]);
    expect(valid.code).toBe(11);
    expect(valid.stderr).toMatch(/older copy/);
  });
});

describe("gate files that are not regular files", () => {
  for (const name of ["totp.secret", "auth-state.json"]) {
    it(`a FIFO as ${name} is refused by reveal, totp status and doctor instead of hanging`, async () => {
      const { pool, key, secret } = await gatedPool();
      const path = join(dirname(pool.path), name);
      await unlink(path);
      const made = spawnSync("mkfifo", ["-m", "600", path]);
      expect(made.status).toBe(0);
      // A hang is killed after 15 s and shows as a signal, failing the exit-code checks below.
      const reveal = await pool.run(["reveal", "work", "--totp-code", codeFor(secret, 1)], { timeoutMs: 15_000 });
      expect(reveal.signal).toBeNull();
      expect(reveal.code).toBe(11);
      expect(reveal.stderr).toContain(path);
      expect(reveal.stderr).toContain("FIFO");
      expect(reveal.stdout).not.toContain(key);
      const status = await pool.run(["totp", "status"], { timeoutMs: 15_000 });
      expect(status.signal).toBeNull();
      expect(status.code).toBe(11);
      expect(status.stdout).toContain("FIFO");
      const doctor = await pool.run(["doctor"], { timeoutMs: 15_000 });
      expect(doctor.signal).toBeNull();
      expect(`${doctor.stdout}${doctor.stderr}`).toContain(path);
    });
  }
});
