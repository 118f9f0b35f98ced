// Runs the real `credpool` binary in a child process and keeps every byte it printed, so each test file can check
// at the end that no fixture secret ever reached stdout or stderr unless the command was asked to reveal it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openPool, type AddCredentialInput } from "@credpool/pool-core";
import { createTempDir, nodeWithFileSizeLimit, type TempDir } from "@credpool/pool-testkit";
import { afterAll, afterEach, expect } from "vitest";
import { copyCli } from "./copy-cli.js";

export const CLI_BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "credpool.mjs");

let otherUserCli: Promise<{ bin: string; dir: TempDir }> | undefined;

/** One copy of the CLI per test file for runs as another user (see `copyCli`), removed after the file. */
function cliForOtherUsers(): Promise<{ bin: string; dir: TempDir }> {
  otherUserCli ??= (async () => {
    const dir = await createTempDir("credpool-cli-copy-");
    return { bin: await copyCli(dir.path), dir };
  })();
  return otherUserCli;
}

export interface CliResult {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Passed as `--pool`; omitted when undefined. */
  readonly pool?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. Without it stdin is closed at once (never a TTY). */
  readonly input?: string;
  /** This run was asked to print a secret (reveal, lease, export to stdout). */
  readonly revealsSecrets?: boolean;
  readonly uid?: number;
  readonly gid?: number;
  readonly timeoutMs?: number;
  /** Run under this file-size limit (bytes), so a write past it is a real short write. */
  readonly fileSizeLimit?: number;
}

interface RecordedOutput {
  readonly what: string;
  readonly text: string;
  readonly revealsSecrets: boolean;
}

const outputs: RecordedOutput[] = [];
const secrets = new Set<string>();

/** A unique fake key that the leak check looks for. */
export function fixtureSecret(prefix = "sk-ant-api03-"): string {
  const secret = `${prefix}${randomBytes(24).toString("base64url")}`;
  secrets.add(secret);
  return secret;
}

/** A secret the test did not make (a token a fake server issued) that must never be printed either. */
export function registerSecret(secret: string): void {
  if (secret.length >= 16) secrets.add(secret);
}

/** For output collected outside `runCli` (long-running children). */
export function recordOutput(what: string, text: string, revealsSecrets = false): void {
  outputs.push({ what, text, revealsSecrets });
}

/** The environment every run gets: no colour, no inherited pool location or lock settings. */
function baseEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.CREDPOOL_HOME;
  delete env.CREDPOOL_LOCK_TIMEOUT_MS;
  delete env.FORCE_COLOR;
  return { ...env, ...extra };
}

export function cliArgs(args: readonly string[], pool: string | undefined, bin = CLI_BIN): string[] {
  return [bin, ...(pool === undefined ? [] : ["--pool", pool]), ...args];
}

export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const asOtherUser =
    options.uid === undefined
      ? undefined
      : { uid: options.uid, gid: options.gid ?? options.uid, copy: await cliForOtherUsers() };
  return new Promise((resolve, reject) => {
    const argv = cliArgs(args, options.pool, asOtherUser?.copy.bin);
    const { command, args: commandArgs } =
      options.fileSizeLimit === undefined
        ? { command: process.execPath, args: argv }
        : nodeWithFileSizeLimit(options.fileSizeLimit, argv);
    const child = spawn(command, commandArgs, {
      env: baseEnv(options.env),
      stdio: ["pipe", "pipe", "pipe"],
      ...(asOtherUser === undefined
        ? {}
        : { uid: asOtherUser.uid, gid: asOtherUser.gid, cwd: asOtherUser.copy.dir.path }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", reject);
    // 'close', not 'exit': it fires once the pipes have drained, so no output is missed.
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      outputs.push({
        what: `credpool ${args.join(" ")}`,
        text: `${stdout}\n${stderr}`,
        revealsSecrets: options.revealsSecrets === true,
      });
      resolve({ args, code, signal, stdout, stderr });
    });
  });
}

export interface TestPool {
  readonly dir: TempDir;
  /** The pool file, as passed to --pool. */
  readonly path: string;
  run(args: readonly string[], options?: Omit<RunOptions, "pool">): Promise<CliResult>;
  /** Adds credentials through core directly (fast), each with a fresh fixture secret unless given. */
  seed(inputs: readonly (Partial<AddCredentialInput> & { provider: string })[]): Promise<string[]>;
}

/** A temp dir with an initialised pool (created by `credpool init`, so modes are the CLI's). */
export async function createTestPool(options: { init?: boolean } = {}): Promise<TestPool> {
  const dir = await createTempDir("credpool-cli-");
  const path = join(dir.path, "pool", "pool.json");
  const pool: TestPool = {
    dir,
    path,
    run: (args, runOptions = {}) => runCli(args, { ...runOptions, pool: path }),
    async seed(inputs) {
      const opened = await openPool({ file: { path } });
      try {
        const ids: string[] = [];
        for (const input of inputs) {
          const created = await opened.add({ secrets: { apiKey: fixtureSecret() }, ...input });
          ids.push(created.id);
        }
        return ids;
      } finally {
        await opened.close();
      }
    },
  };
  if (options.init !== false) {
    const result = await pool.run(["init"]);
    expect(result.code, result.stderr).toBe(0);
  }
  return pool;
}

/** Removes a temp dir even after a test made parts of it read-only. */
export async function removeTestPool(pool: TestPool): Promise<void> {
  await chmod(dirname(pool.path), 0o700).catch(() => undefined);
  await pool.dir.remove();
}

/** `createTestPool` for one test file: every pool it made is removed after each test. */
export function useTestPools(defaults: { init?: boolean } = {}): (options?: { init?: boolean }) => Promise<TestPool> {
  const pools: TestPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map(removeTestPool));
  });
  return async (options = defaults) => {
    const pool = await createTestPool(options);
    pools.push(pool);
    return pool;
  };
}

afterAll(async () => {
  await (await otherUserCli)?.dir.remove();
});

// Every file that uses this helper gets the leak check, after all its tests ran.
afterAll(() => {
  const leaks: string[] = [];
  for (const output of outputs) {
    if (output.revealsSecrets) continue;
    for (const secret of secrets) {
      // The middle of the key too: a masked form shows a prefix and the last four characters, never the middle.
      const middle = secret.slice(Math.floor(secret.length / 2) - 6, Math.floor(secret.length / 2) + 6);
      if (output.text.includes(secret) || output.text.includes(middle))
        leaks.push(`${output.what}: printed a fixture secret`);
    }
  }
  expect(leaks).toEqual([]);
  // The check must have had something to check.
  expect(outputs.length).toBeGreaterThan(0);
});
