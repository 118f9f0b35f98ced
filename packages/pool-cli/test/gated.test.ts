// reveal and export (the only commands that print secrets), the TOTP gate in front of them and of changes to the
// pool, completion scripts, and watch's one-line-per-change output.
import { mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { beginTotpSetup, confirmTotpSetup, generateTotpCode, type BeginTotpSetupResult } from "@credpool/pool-core";
import { spawnChild } from "@credpool/pool-testkit";
import { describe, expect, it } from "vitest";
import { CLI_BIN, fixtureSecret, recordOutput, runCli, useTestPools, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();

/** Sets TOTP up for the pool's directory the way `credpool totp setup` would; returns the secret for making codes. */
async function configureTotp(pool: TestPool): Promise<BeginTotpSetupResult> {
  const home = dirname(pool.path);
  const setup = await beginTotpSetup({ home, label: "test" });
  await confirmTotpSetup({
    home,
    principal: "test-setup",
    // The previous step's code (still inside the ±1 window), so the current and next steps stay free for the test.
    code: generateTotpCode({ secret: setup.secret, algorithm: setup.algorithm, timestamp: Date.now() - 30_000 }),
  });
  return setup;
}

function codeFor(setup: BeginTotpSetupResult, offsetSteps = 0): string {
  return generateTotpCode({
    secret: setup.secret,
    algorithm: setup.algorithm,
    timestamp: Date.now() + offsetSteps * 30_000,
  });
}

describe("reveal and export without TOTP", () => {
  it("reveal prints the usable secret, as text or JSON", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    const [id] = await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const text = await pool.run(["reveal", "work"], { revealsSecrets: true });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(`${secret}\n`);
    const json = await pool.run(["reveal", "anthropic#1", "--json"], { revealsSecrets: true });
    expect(JSON.parse(json.stdout)).toEqual({
      id,
      provider: "anthropic",
      label: "work",
      kind: "api_key",
      tokenType: "api_key",
      token: secret,
      expiresAt: null,
    });
  });

  it("export writes a 0600 pool document and refuses to overwrite it without --force", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const out = join(pool.dir.path, "export.json");
    const first = await pool.run(["export", "--out", out]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`Exported 1 credential (rev 2) to ${out} (mode 0600).\n`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(await readFile(out, "utf8")).toContain(secret);
    // The export is itself a pool.
    const listed = await runCli(["list", "--json"], { pool: out });
    expect((JSON.parse(listed.stdout) as { credentials: { label: string }[] }).credentials.map((c) => c.label)).toEqual(
      ["work"],
    );

    await writeFile(out, "keep me");
    const again = await pool.run(["export", "--out", out]);
    expect(again.code).toBe(13);
    expect(again.stderr).toContain(`${out} already exists; pass --force to replace it.`);
    expect(await readFile(out, "utf8")).toBe("keep me");

    const forced = await pool.run(["export", "--out", out, "--force", "--json"]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ path: out, credentials: 1, rev: 2 });
    expect((await stat(out)).mode & 0o777).toBe(0o600);

    const piped = await pool.run(["export"], { revealsSecrets: true });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain(secret);
  });
});

describe("with TOTP configured", () => {
  it("gates reveal, export, add, remove and strategy, and nothing else", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const setup = await configureTotp(pool);

    for (const args of [
      ["reveal", "work"],
      ["export", "--out", join(pool.dir.path, "x.json")],
      ["remove", "work"],
      ["strategy", "anthropic", "random"],
    ]) {
      const result = await pool.run(args);
      expect(result.code, args.join(" ")).toBe(9);
      expect(result.stderr).toContain("needs a TOTP code and there is no terminal to ask on: pass --totp-code CODE");
      expect(result.stdout).toBe("");
    }
    const add = await pool.run(["add", "anthropic", "--api-key-stdin"], { input: fixtureSecret() });
    expect(add.code).toBe(9);
    for (const args of [["list"], ["show", "work"], ["strategy", "anthropic"], ["reset", "anthropic"]]) {
      expect((await pool.run(args)).code, args.join(" ")).toBe(0);
    }

    const malformed = await pool.run(["reveal", "work", "--totp-code", "12345"]);
    expect(malformed.code).toBe(9);
    expect(malformed.stderr).toContain("That is not a TOTP code");

    const current = codeFor(setup);
    const revealed = await pool.run(["reveal", "work", "--totp-code", current], { revealsSecrets: true });
    expect(revealed.code, revealed.stderr).toBe(0);
    expect(revealed.stdout).toBe(`${secret}\n`);

    const replayed = await pool.run(["reveal", "work", "--totp-code", current]);
    expect(replayed.code).toBe(9);
    expect(replayed.stderr).toContain("That TOTP code was already used");

    const added = await pool.run(["add", "anthropic", "--api-key-stdin"], {
      input: fixtureSecret(),
      env: { CREDPOOL_TOTP_CODE: codeFor(setup, 1) },
    });
    expect(added.code, added.stderr).toBe(0);

    const doctor = await pool.run(["doctor", "--json"]);
    const totp = (JSON.parse(doctor.stdout) as { findings: { check: string; message: string }[] }).findings.filter(
      (f) => f.check === "totp",
    );
    expect(totp[0]?.message).toMatch(/^configured \(secret file .*totp\.secret/);
  });

  it("locks out after three wrong codes (exit 10), and fails closed when its state is gone (exit 11)", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const setup = await configureTotp(pool);
    const wrong = codeFor(setup) === "000000" ? "111111" : "000000";
    const first = await pool.run(["reveal", "work", "--totp-code", wrong]);
    expect(first.code).toBe(9);
    expect(first.stderr).toContain("Wrong TOTP code. 2 more wrong codes");
    await pool.run(["reveal", "work", "--totp-code", wrong]);
    const third = await pool.run(["reveal", "work", "--totp-code", wrong]);
    expect(third.code).toBe(10);
    const locked = await pool.run(["reveal", "work", "--totp-code", codeFor(setup)]);
    expect(locked.code).toBe(10);
    expect(locked.stderr).toContain("TOTP is locked after 3 wrong codes");

    await unlink(join(dirname(pool.path), "auth-state.json"));
    const broken = await pool.run(["reveal", "work", "--totp-code", codeFor(setup, 1)]);
    expect(broken.code).toBe(11);
    expect(broken.stderr).toContain("auth-state.json is missing");
    expect(broken.stderr).toContain("Access is denied");
    const doctor = await pool.run(["doctor"]);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL {2}totp: .*auth-state\.json is missing/);
  });

  it("appends every verification to audit.log (0600, JSON lines) with the principal masked and no code", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const setup = await configureTotp(pool);
    const current = codeFor(setup);
    const wrong = current === "000000" ? "111111" : "000000";
    expect((await pool.run(["reveal", "work", "--totp-code", wrong])).code).toBe(9);
    expect((await pool.run(["reveal", "work", "--totp-code", "12345"])).code).toBe(9);
    expect((await pool.run(["reveal", "work", "--totp-code", current], { revealsSecrets: true })).code).toBe(0);
    expect((await pool.run(["reveal", "work", "--totp-code", current])).code).toBe(9);

    const path = join(dirname(pool.path), "audit.log");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const text = await readFile(path, "utf8");
    const events = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; principal: string; action?: string });
    expect(events.map((event) => event.type)).toEqual([
      "totp.verify.fail",
      "totp.verify.malformed",
      "totp.verify.ok",
      "totp.verify.replay",
    ]);
    for (const event of events) {
      expect(event.principal).toMatch(/^.{1,3}…#[0-9a-f]{6}$/);
      expect(event.action).toBe("reveal anthropic/work");
    }
    for (const needle of [current, wrong, secret, setup.secret]) expect(text).not.toContain(needle);
  });
});

describe("credpool completion", () => {
  it.each(["bash", "zsh", "fish"])("prints a %s script naming every command and their flags", async (shell) => {
    const result = await runCli(["completion", shell]);
    expect(result.code).toBe(0);
    for (const word of ["init", "lease", "exec", "doctor", "api-key-stdin", "totp-code", "anthropic"])
      expect(result.stdout).toContain(word);
  });

  it("rejects an unknown shell", async () => {
    const result = await runCli(["completion", "tcsh"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("the shell must be bash, zsh or fish");
  });
});

describe("credpool watch", () => {
  it("prints one line per change when stdout is not a terminal, and one JSON object per change with --json", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const text = spawnChild(CLI_BIN, ["--pool", pool.path, "watch"], { env: { NO_COLOR: "1" } });
    const json = spawnChild(CLI_BIN, ["--pool", pool.path, "watch", "--json"], { env: { NO_COLOR: "1" } });
    try {
      await text.waitFor<{ text?: string }>((message) =>
        /rev 2 · 1 credentials, 1 available · anthropic#1 work: ok$/.test(message.text ?? ""),
      );
      await json.waitFor<{ rev?: number }>((message) => message.rev === 2);
      const report = await pool.run(["report", "work", "--status", "429", "--retry-after", "600"]);
      expect(report.code).toBe(0);
      await text.waitFor<{ text?: string }>((message) =>
        /rev 3 · 1 credentials, 0 available · anthropic#1 work: exhausted 429 · 10m left$/.test(message.text ?? ""),
      );
      const change = await json.waitFor<{ rev?: number; changed?: string[]; credentials?: { state: string }[] }>(
        (message) => message.rev === 3,
      );
      expect(change.changed).toHaveLength(1);
      expect(change.credentials?.[0]?.state).toBe("exhausted");
    } finally {
      text.kill("SIGTERM");
      json.kill("SIGTERM");
      const exits = await Promise.all([text.exited, json.exited]);
      recordOutput("credpool watch", `${JSON.stringify(text.messages)}\n${text.stderr()}`);
      recordOutput("credpool watch --json", `${JSON.stringify(json.messages)}\n${json.stderr()}`);
      expect(exits).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);
    }
    expect(text.messages).toHaveLength(2);
  });

  it("shows a dead Claude Code login come back when Claude Code logs in again", async () => {
    const pool = await freshPool();
    const claudeDir = join(pool.dir.path, "claude");
    const claudePath = join(claudeDir, ".credentials.json");
    await mkdir(claudeDir, { recursive: true });
    const claudeFile = () =>
      JSON.stringify({
        claudeAiOauth: {
          accessToken: fixtureSecret("sk-ant-oat01-"),
          refreshToken: fixtureSecret("sk-ant-ort01-"),
          expiresAt: Date.now() + 3_600_000,
        },
      });
    await writeFile(claudePath, claudeFile(), { mode: 0o600 });
    expect((await pool.run(["import", "claude-code"], { env: { CLAUDE_CONFIG_DIR: claudeDir } })).code).toBe(0);
    const revoked = await pool.run(["report", "anthropic#1", "--status", "401", "--message", "token_revoked"]);
    expect(revoked.code, revoked.stderr).toBe(0);

    type Frame = { rev?: number; credentials?: { state: string }[] };
    const json = spawnChild(CLI_BIN, ["--pool", pool.path, "watch", "--json"], { env: { NO_COLOR: "1" } });
    try {
      await json.waitFor<Frame>((message) => message.credentials?.[0]?.state === "dead");
      await writeFile(`${claudePath}.tmp`, claudeFile(), { mode: 0o600 });
      await rename(`${claudePath}.tmp`, claudePath);
      // The guard only catches a hang: the watcher is expected well inside it.
      await json.waitFor<Frame>((message) => message.credentials?.[0]?.state === "ok", 15_000);
    } finally {
      json.kill("SIGTERM");
      const exit = await json.exited;
      recordOutput("credpool watch --json", `${JSON.stringify(json.messages)}\n${json.stderr()}`);
      expect(exit).toEqual({ code: 0, signal: null });
    }
  });
});
