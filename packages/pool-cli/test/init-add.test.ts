// init and add as real processes: modes, where secrets may come from, and the refusals that keep them off argv.
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createFileBackend } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { fixtureSecret, runCli, useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();
const NOBODY = 65534;

async function readCredentials(path: string) {
  const backend = createFileBackend({ path, createIfMissing: false });
  try {
    const { doc } = await backend.read();
    return Object.values(doc.providers).flatMap((provider) => provider.credentials);
  } finally {
    await backend.close();
  }
}

describe("credpool init", () => {
  it("creates the pool with a 0700 directory and a 0600 file, prints where, and is idempotent", async () => {
    const pool = await freshPool({ init: false });
    const first = await pool.run(["init"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Created an empty pool at ${pool.path}`);
    expect((await stat(dirname(pool.path))).mode & 0o777).toBe(0o700);
    expect((await stat(pool.path)).mode & 0o777).toBe(0o600);

    const again = await pool.run(["init", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ path: pool.path, created: false, rev: 1, credentials: 0 });
  });

  it("tightens an existing 0755 directory to 0700 and a 0644 pool file to 0600, and says so", async () => {
    const pool = await freshPool({ init: false });
    const dir = dirname(pool.path);
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    const first = await pool.run(["init"]);
    expect(first.code, first.stderr).toBe(0);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(first.stderr).toContain(`Changed the mode of ${dir} from 0755 to 0700.`);

    await chmod(dir, 0o755);
    await chmod(pool.path, 0o644);
    const again = await pool.run(["init"]);
    expect(again.code, again.stderr).toBe(0);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(pool.path)).mode & 0o777).toBe(0o600);
    expect(again.stderr).toContain(`Changed the mode of ${pool.path} from 0644 to 0600.`);
  });

  it.runIf(process.getuid?.() === 0)(
    "says why it cannot tighten a directory that belongs to another user",
    async () => {
      const pool = await freshPool({ init: false });
      const dir = dirname(pool.path);
      // Root's directory, open to all: nobody can create the pool in it but cannot change its mode.
      await chmod(pool.dir.path, 0o755);
      await mkdir(dir);
      await chmod(dir, 0o777);
      const result = await pool.run(["init"], { uid: NOBODY, gid: NOBODY });
      expect(result.code, result.stderr).toBe(0);
      expect((await stat(dir)).mode & 0o777).toBe(0o777);
      expect(result.stderr).toContain(`${dir} has mode 0777`);
      expect(result.stderr).toContain(`it belongs to uid 0, not to you (uid ${NOBODY})`);
    },
  );

  it("takes --pool as a directory too", async () => {
    const pool = await freshPool({ init: false });
    const dir = join(pool.dir.path, "as-dir");
    const result = await runCli(["init", "--json"], { pool: dir });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ path: join(dir, "pool.json"), created: true });
  });
});

describe("a missing pool", () => {
  it.each([["list"], ["show", "x"], ["lease", "anthropic"], ["reset", "anthropic"]])(
    "`credpool %s` exits 4 and says to run init",
    async (...args) => {
      const pool = await freshPool({ init: false });
      const result = await pool.run(args);
      expect(result.code).toBe(4);
      expect(result.stderr).toContain(`No pool at ${pool.path}`);
      expect(result.stderr).toContain("credpool init");
    },
  );

  it("is not created by add", async () => {
    const pool = await freshPool({ init: false });
    const result = await pool.run(["add", "anthropic", "--api-key-stdin"], { input: fixtureSecret() });
    expect(result.code).toBe(4);
    await expect(stat(pool.path)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("credpool add", () => {
  it("reads the key from stdin and never prints it", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret();
    const result = await pool.run(["add", "anthropic", "--api-key-stdin", "--label", "work", "--priority", "3"], {
      input: `${secret}\n`,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Added anthropic#1 "work" \(id [0-9a-z]{8}, priority 3\)\.\n$/);
    const [credential] = await readCredentials(pool.path);
    expect(credential).toMatchObject({
      provider: "anthropic",
      label: "work",
      priority: 3,
      kind: "api_key",
      secrets: { apiKey: secret },
    });
  });

  it("reads the key from a named environment variable, with --json", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret("sk-or-v1-");
    const result = await pool.run(["add", "openrouter", "--api-key-env", "MY_KEY", "--max-concurrent", "2", "--json"], {
      env: { MY_KEY: secret },
    });
    expect(result.code, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as { credential: Record<string, unknown> };
    expect(body.credential).toMatchObject({
      ref: "openrouter#1",
      provider: "openrouter",
      label: "openrouter-1",
      maxConcurrent: 2,
      state: "ok",
    });
    expect((await readCredentials(pool.path))[0]?.secrets.apiKey).toBe(secret);
  });

  it("fails naming the flags when there is no key and no terminal to prompt on", async () => {
    const pool = await freshPool();
    const result = await pool.run(["add", "anthropic"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("stdin is not a terminal");
    expect(result.stderr).toContain("--api-key-stdin");
    expect(result.stderr).toContain("--api-key-env VAR");
    expect(await readCredentials(pool.path)).toEqual([]);
  });

  it("fails when the named variable is unset", async () => {
    const pool = await freshPool();
    const result = await pool.run(["add", "anthropic", "--api-key-env", "NOT_SET_ANYWHERE"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--api-key-env NOT_SET_ANYWHERE: that variable is not set or is empty");
  });

  it.each([["--api-key", "VALUE"], ["--api-key=VALUE"], ["VALUE"], ["--label", "VALUE"]])(
    "refuses a secret on argv (%s) with a hint, without echoing it",
    async (...shape) => {
      const pool = await freshPool();
      const secret = fixtureSecret();
      const args = ["add", "anthropic", ...shape.map((part) => part.replace("VALUE", secret))];
      const result = await pool.run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/Refusing --api-key|looks like a secret/);
      expect(result.stderr).toContain("--api-key-stdin");
      expect(result.stderr).toContain("shell history");
      expect(result.stderr).not.toContain(secret);
      expect(await readCredentials(pool.path)).toEqual([]);
    },
  );

  it("rejects an invalid provider name before reading any key", async () => {
    const pool = await freshPool();
    const result = await pool.run(["add", "Anthro pic", "--api-key-stdin"], { input: fixtureSecret() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid provider "Anthro pic"');
  });

  it("accepts a provider it does not know but says so", async () => {
    const pool = await freshPool();
    const result = await pool.run(["add", "antropic", "--api-key-stdin"], { input: fixtureSecret() });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('"antropic" is not a provider credpool knows');
  });

  it("refuses a duplicate label with exit 13", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const result = await pool.run(["add", "anthropic", "--api-key-stdin", "--label", "WORK"], {
      input: fixtureSecret(),
    });
    expect(result.code).toBe(13);
    expect(result.stderr).toContain('already has a credential labelled "WORK"');
  });

  it("reports bad option values as usage errors with a pointer to --help", async () => {
    const pool = await freshPool();
    const result = await pool.run(["add", "anthropic", "--api-key-stdin", "--priority", "high"], {
      input: fixtureSecret(),
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--priority must be a whole number");
    expect(result.stderr).toContain("credpool add --help");
  });
});

describe("help, version and unknown commands", () => {
  it("prints help with examples for every command, exit 0", async () => {
    const overview = await runCli(["--help"]);
    expect(overview.code).toBe(0);
    expect(overview.stdout).toContain("Exit codes:");
    const names = [...overview.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((match) => match[1] ?? "");
    expect(names).toEqual(
      expect.arrayContaining(["init", "add", "list", "lease", "exec", "doctor", "export", "completion"]),
    );
    const helps = await Promise.all(names.map((name) => runCli([name, "--help"])));
    for (const [index, help] of helps.entries()) {
      expect(help.code, names[index]).toBe(0);
      expect(help.stdout, names[index]).toContain(`Usage: credpool ${names[index]}`);
      expect(help.stdout, names[index]).toContain("Examples:\n  $ ");
      expect(help.stdout.slice(help.stdout.indexOf("Examples:")), names[index]).toContain(`credpool ${names[index]}`);
    }
  });

  it("prints the version", async () => {
    const result = await runCli(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("suggests the closest command", async () => {
    const result = await runCli(["lsit"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "lsit". Did you mean `credpool list`?');
  });

  it("rejects unknown options with exit 2", async () => {
    const result = await runCli(["list", "--colour"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option --colour.");
  });
});
