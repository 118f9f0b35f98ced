// lease, release and exec as real processes: a lease outlives `credpool lease` until `credpool release` ends it,
// and exec always releases, whether its command exits, fails or is killed, passing the exit status through.
import { spawn } from "node:child_process";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createFileBackend, listCredentials } from "@credpool/pool-core";
import { startFakeTokenServer } from "@credpool/pool-testkit";
import { describe, expect, it } from "vitest";
import { cliArgs, fixtureSecret, recordOutput, useTestPools, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();

async function liveLeaseIds(path: string): Promise<string[]> {
  const backend = createFileBackend({ path, createIfMissing: false });
  try {
    const { doc } = await backend.read();
    const now = Date.now();
    return Object.values(doc.providers)
      .flatMap((provider) => provider.credentials)
      .flatMap((credential) =>
        (credential.leases ?? []).filter((lease) => lease.expiresAt > now).map((lease) => lease.id),
      );
  } finally {
    await backend.close();
  }
}

function parseExports(stdout: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of stdout.trim().split("\n")) {
    const match = /^export ([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(line);
    if (!match) throw new Error(`not an export line: ${line}`);
    vars[match[1] ?? ""] = match[2] ?? "";
  }
  return vars;
}

/** Starts `credpool exec` and resolves with the first stdout line of its command (a pid). */
function startExec(pool: TestPool, args: string[]) {
  const child = spawn(process.execPath, cliArgs(["exec", ...args], pool.path), {
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
    });
    child.once("exit", () => reject(new Error(`exec exited before its command printed; stderr: ${stderr}`)));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      recordOutput(`credpool exec ${args.join(" ")}`, `${stdout}\n${stderr}`);
      resolve({ code, signal });
    });
  });
  return { child, firstLine, exited, stderr: () => stderr };
}

const WAIT_FOREVER = "console.log(process.pid); setInterval(() => {}, 1000);";

describe("credpool lease and release", () => {
  it("prints exports to eval, keeps the lease after exiting, and release from another process ends it", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    const [id] = await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const lease = await pool.run(["lease", "anthropic", "--ttl", "5m"], { revealsSecrets: true });
    expect(lease.code, lease.stderr).toBe(0);
    const vars = parseExports(lease.stdout);
    expect(vars).toEqual({
      ANTHROPIC_API_KEY: secret,
      CREDPOOL_LEASE_ID: expect.stringMatching(/^[0-9a-z]{10}$/) as string,
      CREDPOOL_CREDENTIAL_ID: id,
      CREDPOOL_BASE_URL: "https://api.anthropic.com",
    });
    const leaseId = vars.CREDPOOL_LEASE_ID ?? "";
    expect(await liveLeaseIds(pool.path)).toEqual([leaseId]);

    const released = await pool.run(["release", leaseId]);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toBe(`Released lease ${leaseId} on anthropic "work": ok.\n`);
    expect(await liveLeaseIds(pool.path)).toEqual([]);

    const again = await pool.run(["release", leaseId]);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`No active lease ${leaseId}`);
  });

  it("has a --json form, and release --status 429 benches the credential", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret("sk-or-v1-");
    const [id] = await pool.seed([{ provider: "openrouter", label: "router", secrets: { apiKey: secret } }]);
    const lease = await pool.run(["lease", "openrouter", "--json", "--model", "some/model"], { revealsSecrets: true });
    expect(lease.code, lease.stderr).toBe(0);
    const body = JSON.parse(lease.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({
      provider: "openrouter",
      credentialId: id,
      label: "router",
      kind: "api_key",
      tokenType: "api_key",
      token: secret,
      envVar: "OPENROUTER_API_KEY",
      baseUrl: "https://openrouter.ai/api/v1",
      model: "some/model",
      tokenExpiresAt: null,
    });
    expect(Date.parse(String(body.leaseExpiresAt))).toBeGreaterThan(Date.now());

    const released = await pool.run([
      "release",
      String(body.leaseId),
      "--status",
      "429",
      "--retry-after",
      "90",
      "--json",
    ]);
    expect(released.code, released.stderr).toBe(0);
    expect(JSON.parse(released.stdout)).toMatchObject({
      leaseId: body.leaseId,
      credential: { id, state: "exhausted", httpStatus: 429, status: "exhausted 429 · 2m left", activeLeases: 0 },
    });
  });

  it("exits 5 saying when the next credential frees up, or how to add one", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    await pool.run(["report", "work", "--status", "429", "--retry-after", "300"]);
    const busy = await pool.run(["lease", "anthropic"]);
    expect(busy.code).toBe(5);
    expect(busy.stdout).toBe("");
    expect(busy.stderr).toMatch(/No anthropic credential is available \(next one frees up in \d+s\)\. work: exhausted/);

    const unknown = await pool.run(["lease", "nosuch", "--json"]);
    expect(unknown.code).toBe(5);
    expect(JSON.parse(unknown.stderr)).toMatchObject({
      error: {
        code: "E_NO_CREDENTIAL",
        exitCode: 5,
        message: 'No credentials for provider "nosuch". Add one with `credpool add nosuch`.',
      },
    });
  });

  it("refreshes an expired OAuth login once before handing out its access token", async () => {
    const pool = await freshPool();
    const server = await startFakeTokenServer();
    try {
      const login = server.issue();
      await pool.seed([
        {
          provider: "anthropic",
          kind: "oauth",
          label: "max",
          secrets: { accessToken: login.accessToken, refreshToken: login.refreshToken, expiresAt: Date.now() - 60_000 },
        },
      ]);
      const lease = await pool.run(["lease", "anthropic", "--json"], {
        revealsSecrets: true,
        env: { CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl },
      });
      expect(lease.code, lease.stderr).toBe(0);
      const body = JSON.parse(lease.stdout) as { token: string; tokenType: string; tokenExpiresAt: string };
      expect(server.calls).toHaveLength(1);
      expect(body.token).toBe(server.current(login.family).accessToken);
      expect(body.token).not.toBe(login.accessToken);
      expect(body.tokenType).toBe("bearer");
      expect(Date.parse(body.tokenExpiresAt)).toBeGreaterThan(Date.now());
      server.assertNoReuse();
    } finally {
      await server.close();
    }
  });

  it("rejects a bad --ttl and a malformed lease id", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const ttl = await pool.run(["lease", "anthropic", "--ttl", "soon"]);
    expect(ttl.code).toBe(2);
    expect(ttl.stderr).toContain('--ttl takes seconds or a duration like 90s, 10m or 1h, got "soon"');
    const id = await pool.run(["release", "NOT/AN/ID"]);
    expect(id.code).toBe(2);
    expect(id.stderr).toContain("a lease id is lowercase letters and digits");
  });
});

describe("credpool exec", () => {
  it("puts the key in the provider's variable and passes the exit status through", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const check =
      "process.exit(process.env.ANTHROPIC_API_KEY === process.env.EXPECTED && process.env.CREDPOOL_LEASE_ID ? 7 : 1)";
    const result = await pool.run(["exec", "anthropic", "--", process.execPath, "-e", check], {
      env: { EXPECTED: secret },
    });
    expect(result.code, result.stderr).toBe(7);
    expect(await liveLeaseIds(pool.path)).toEqual([]);

    const renamed = await pool.run(
      [
        "exec",
        "anthropic",
        "--env",
        "MY_KEY",
        "--",
        process.execPath,
        "-e",
        check.replace("ANTHROPIC_API_KEY", "MY_KEY"),
      ],
      {
        env: { EXPECTED: secret },
      },
    );
    expect(renamed.code).toBe(7);
  });

  it("reports the status the command wrote to $CREDPOOL_STATUS_FILE", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "anthropic", label: "work" },
      { provider: "anthropic", label: "spare" },
    ]);
    const write = "require('fs').writeFileSync(process.env.CREDPOOL_STATUS_FILE, '429 600\\n')";
    const result = await pool.run(["exec", "anthropic", "--", process.execPath, "-e", write]);
    expect(result.code, result.stderr).toBe(0);
    const list = await pool.run(["list", "--json"]);
    const [work] = (JSON.parse(list.stdout) as { credentials: { label: string; status: string }[] }).credentials;
    expect(work).toMatchObject({ label: "work", status: "exhausted 429 · 10m left" });
    expect(await liveLeaseIds(pool.path)).toEqual([]);
  });

  it("releases the lease when its command is killed, exiting 128+signal", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const exec = startExec(pool, ["anthropic", "--", process.execPath, "-e", WAIT_FOREVER]);
    const pid = Number(await exec.firstLine);
    expect(await liveLeaseIds(pool.path)).toHaveLength(1);
    process.kill(pid, "SIGKILL");
    expect(await exec.exited).toEqual({ code: 137, signal: null });
    expect(await liveLeaseIds(pool.path)).toEqual([]);
  });

  it("forwards SIGTERM to its command, releases, and exits 143", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const exec = startExec(pool, ["anthropic", "--", process.execPath, "-e", WAIT_FOREVER]);
    await exec.firstLine;
    expect(await liveLeaseIds(pool.path)).toHaveLength(1);
    exec.child.kill("SIGTERM");
    expect(await exec.exited).toEqual({ code: 143, signal: null });
    expect(await liveLeaseIds(pool.path)).toEqual([]);
  });

  it("adopts a re-login written to the linked Claude Code file while its command runs, and exits once it ends", async () => {
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
    const imported = await pool.run(["import", "claude-code"], { env: { CLAUDE_CONFIG_DIR: claudeDir } });
    expect(imported.code, imported.stderr).toBe(0);
    const accessTokenInPool = async (): Promise<string | undefined> => {
      const backend = createFileBackend({ path: pool.path, createIfMissing: false });
      try {
        return listCredentials((await backend.read()).doc)[0]?.secrets.accessToken;
      } finally {
        await backend.close();
      }
    };
    const before = await accessTokenInPool();

    const exec = startExec(pool, ["anthropic", "--", process.execPath, "-e", WAIT_FOREVER]);
    const pid = Number(await exec.firstLine);
    // Claude Code logs in again: a new file renamed over the old one.
    const relogin = claudeFile();
    await writeFile(`${claudePath}.tmp`, relogin, { mode: 0o600 });
    await rename(`${claudePath}.tmp`, claudePath);
    const wanted = (JSON.parse(relogin) as { claudeAiOauth: { accessToken: string } }).claudeAiOauth.accessToken;
    // A guard against a hang, not a timing figure: the watcher is expected well inside it.
    const guardUntil = Date.now() + 15_000;
    while ((await accessTokenInPool()) !== wanted) {
      if (Date.now() > guardUntil) throw new Error("credpool exec did not adopt the rewritten Claude Code file");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(wanted).not.toBe(before);

    process.kill(pid, "SIGTERM");
    // exec ends by itself once its command has: no watcher is left holding it open.
    expect(await exec.exited).toEqual({ code: 143, signal: null });
    expect(await liveLeaseIds(pool.path)).toEqual([]);
  });

  it("exits 127 for a command that does not exist, still releasing", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const result = await pool.run(["exec", "anthropic", "--", "/nonexistent/credpool-test-command"]);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain("could not run /nonexistent/credpool-test-command: ENOENT");
    expect(await liveLeaseIds(pool.path)).toEqual([]);
  });

  it("needs a command after --", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const none = await pool.run(["exec", "anthropic"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("give the command to run after --");
    const noDashes = await pool.run(["exec", "anthropic", "env"]);
    expect(noDashes.code).toBe(2);
    expect(noDashes.stderr).toContain('Put "--" before the command');
  });
});

describe("a capped credential held by a long lease", () => {
  it("lists as busy for as long as the lease may still run, not for the one-second retry hint", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "openrouter", label: "capped", maxConcurrent: 1 }]);
    const lease = await pool.run(["lease", "openrouter", "--ttl", "24h", "--json"], { revealsSecrets: true });
    expect(lease.code, lease.stderr).toBe(0);
    const list = await pool.run(["list", "--wide"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("busy 1/1 leases · 1d left");
  });
});
