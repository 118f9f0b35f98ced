// `credpool exec <provider> -- <command...>`: runs a command with a leased credential in its environment, reports
// the outcome, and always releases the lease, also when the command or credpool itself is interrupted.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { getProviderDefaults, watchLinkedSources, type Lease, type LeaseOutcome } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, integerArgument } from "../command.js";
import { parseSecondsOrDuration } from "../durations.js";
import { outcomeFrom } from "../outcome.js";
import { createOutput, isTerminal } from "../output.js";
import { openLeasingPool } from "../pool-access.js";

const DEFAULT_TTL_MS = 10 * 60_000;
const FORWARDED_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/** `429`, `429 30` (status, retry-after seconds) or `{"status":429,"retryAfter":30,"model":"…","message":"…"}`. */
function parseStatusFile(
  text: string,
): { status: number; retryAfter?: string; model?: string; message?: string } | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  if (trimmed.startsWith("{")) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      return undefined;
    }
    const parsed = z
      .object({
        status: z.number().int().min(0).max(999),
        retryAfter: z.union([z.number().nonnegative(), z.string()]).optional(),
        model: z.string().optional(),
        message: z.string().optional(),
      })
      .safeParse(value);
    if (!parsed.success) return undefined;
    const { retryAfter, ...rest } = parsed.data;
    return { ...rest, ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }) };
  }
  const match = /^(\d{1,3})(?:\s+(\S+))?$/.exec(trimmed);
  if (!match) return undefined;
  return { status: Number(match[1]), ...(match[2] === undefined ? {} : { retryAfter: match[2] }) };
}

export const { help, run } = defineCommand({
  name: "exec",
  usage:
    "credpool exec <provider> [--model M] [--ttl S] [--env VAR] [--status-file FILE] [--failure-status N] -- <command...>",
  description:
    "Run <command> with a leased credential in the provider's usual variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, …,\n" +
    "or --env VAR), plus CREDPOOL_LEASE_ID, CREDPOOL_CREDENTIAL_ID, CREDPOOL_BASE_URL and CREDPOOL_STATUS_FILE.\n" +
    "The outcome: if the command writes an HTTP status to $CREDPOOL_STATUS_FILE (`429`, `429 30` with a\n" +
    "retry-after, or JSON {status, retryAfter, model, message}) that is reported; otherwise exit 0 is a success and\n" +
    "a non-zero exit is --failure-status N when given (else it does not bench the credential).\n" +
    "The lease is renewed while the command runs and released when it ends, also on Ctrl-C or SIGTERM (forwarded\n" +
    "to the command unless the terminal already delivered it). credpool exits with the command's status\n" +
    "(128+N when a signal N killed it).",
  args: [
    { name: "provider", required: true },
    { name: "command", variadic: true },
  ],
  passthrough: true,
  options: {
    model: { type: "string", value: "M", description: "the model the command will call" },
    ttl: { type: "string", value: "S", description: "lease lifetime, renewed while the command runs (default 10m)" },
    env: { type: "string", value: "VAR", description: "put the key in VAR instead of the provider's default" },
    "status-file": {
      type: "string",
      value: "FILE",
      description: "where the command may write its HTTP status (default: a private temp file)",
    },
    "failure-status": {
      type: "string",
      value: "N",
      description: "report a non-zero exit without a status file as HTTP status N",
    },
  },
  examples: [
    "credpool exec anthropic -- claude -p 'hello'",
    "credpool exec openrouter --env OPENAI_API_KEY -- python agent.py",
    `credpool exec anthropic -- sh -c 'curl -s -o /dev/null -w "%{http_code}" … > "$CREDPOOL_STATUS_FILE"'`,
  ],
  schema: z.object({
    provider: z.string().min(1),
    command: z.array(z.string()).min(1, "give the command to run after --, e.g. credpool exec anthropic -- env"),
    model: z.string().min(1).optional(),
    ttl: z.string().optional(),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "--env takes a variable name")
      .optional(),
    statusFile: z.string().min(1).optional(),
    failureStatus: integerArgument("--failure-status", 0, 999).optional(),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const ttlMs =
      input.ttl === undefined
        ? DEFAULT_TTL_MS
        : parseSecondsOrDuration("--ttl", input.ttl, { minMs: 5000, maxMs: 24 * 3_600_000 });
    const pool = await openLeasingPool(context);
    let lease: Lease;
    try {
      lease = await pool.lease(input.provider, {
        persist: true,
        ttlMs,
        ...(input.model === undefined ? {} : { model: input.model }),
      });
    } catch (error) {
      await pool.close().catch(() => undefined);
      throw error;
    }

    const tempDir = input.statusFile === undefined ? await mkdtemp(join(tmpdir(), "credpool-exec-")) : undefined;
    const statusFile = input.statusFile ?? join(tempDir ?? tmpdir(), "status");
    const [file = "", ...args] = input.command;
    const env: NodeJS.ProcessEnv = {
      ...context.env,
      [input.env ?? getProviderDefaults(lease.provider).envVar]: lease.token,
      CREDPOOL_LEASE_ID: lease.id,
      CREDPOOL_CREDENTIAL_ID: lease.credentialId,
      CREDPOOL_STATUS_FILE: statusFile,
      ...(lease.baseUrl ? { CREDPOOL_BASE_URL: lease.baseUrl } : {}),
    };

    const child = spawn(file, args, { stdio: "inherit", env });
    // credpool stays alive until the command is gone, so the release below always runs. On a terminal, Ctrl-C and
    // Ctrl-\ already reach the command (it is in the foreground process group): forwarding them as well would
    // deliver them twice, and many tools treat a second Ctrl-C as "quit now". Everything else is forwarded.
    const interactive = isTerminal(process.stdin);
    const forward = (signal: NodeJS.Signals): void => {
      if (interactive && (signal === "SIGINT" || signal === "SIGQUIT")) return;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    // The pool stays current while the command runs (a re-login in Claude Code or Codex is adopted for the next
    // lease anywhere); the command itself keeps the token it was started with.
    const sources = watchLinkedSources(pool.backend, {
      env: context.env,
      onError: (error) => output.note(`credpool: could not sync a linked source: ${(error as Error).message}`),
    });
    const renewTimer = setInterval(
      () => {
        lease
          .renew(ttlMs)
          .catch((error: unknown) =>
            output.note(`credpool: could not renew lease ${lease.id}: ${(error as Error).message}`),
          );
      },
      Math.max(1000, Math.floor(ttlMs / 3)),
    );

    const ended = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
      spawnError?: NodeJS.ErrnoException;
    }>((resolve) => {
      child.once("error", (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, spawnError: error }));
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    clearInterval(renewTimer);
    await sources.close();

    let exitCode: number;
    if (ended.spawnError) {
      exitCode = ended.spawnError.code === "ENOENT" ? 127 : 126;
      output.note(`credpool: could not run ${file}: ${ended.spawnError.code ?? ended.spawnError.message}`);
    } else if (ended.signal) {
      exitCode = 128 + (constants.signals[ended.signal] ?? 0);
    } else {
      exitCode = ended.code ?? 1;
    }

    let outcome: LeaseOutcome = "ok";
    const statusText = await readFile(statusFile, "utf8").catch(() => "");
    const reported = statusText.trim() === "" ? undefined : parseStatusFile(statusText);
    if (statusText.trim() !== "" && !reported) {
      output.note(
        `credpool: ignoring ${statusFile}: expected an HTTP status such as "429" or "429 30", or JSON {"status":429}.`,
      );
    }
    try {
      if (reported) outcome = outcomeFrom(reported);
      else if (exitCode !== 0 && input.failureStatus !== undefined)
        outcome = outcomeFrom({ status: input.failureStatus });
    } catch (error) {
      output.note(`credpool: ignoring the reported status: ${(error as Error).message}`);
    }

    try {
      await lease.release(outcome);
    } catch (error) {
      output.note(`credpool: could not release lease ${lease.id} (it expires by itself): ${(error as Error).message}`);
    }
    await pool.close().catch((error: unknown) => output.note(`credpool: ${(error as Error).message}`));
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
    return exitCode;
  },
});
