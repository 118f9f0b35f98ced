// Claude Code on macOS keeps its OAuth login in the login keychain (generic password, service
// "Claude Code-credentials"), holding the same JSON as ~/.claude/.credentials.json. Read with
// `security find-generic-password -w`, written back with `security -i` (the secret goes over stdin as hex, never on
// argv). Both run with no shell and a timeout; the runner is injectable so tests use a fake `security`.
import { spawn } from "node:child_process";
import { userInfo } from "node:os";
import { PoolError } from "../errors.js";

export const CLAUDE_CODE_KEYCHAIN_SERVICE = "Claude Code-credentials";
/** `security` exits 44 (errSecItemNotFound) when there is no such item. */
const ITEM_NOT_FOUND = 44;

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export type CommandRunner = (
  file: string,
  args: readonly string[],
  options: { readonly input?: string; readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv },
) => Promise<CommandResult>;

/** Runs `file` with no shell, kills it after `timeoutMs`, and never rejects for a non-zero exit. */
export const runCommand: CommandRunner = (file, args, options) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`no answer within ${options.timeoutMs} ms`));
      else resolve({ code, stdout, stderr });
    });
  });

export interface KeychainOptions {
  readonly runner?: CommandRunner;
  readonly platform?: NodeJS.Platform;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly service?: string;
}

function keychainError(message: string): PoolError {
  return new PoolError("E_SOURCE", message);
}

function firstLine(text: string): string {
  return (text.split("\n").find((line) => line.trim() !== "") ?? "").trim().slice(0, 200);
}

/** Whether this platform keeps Claude Code's login in the keychain. */
export function usesKeychain(platform: NodeJS.Platform = process.platform): boolean {
  return platform === "darwin";
}

/** The item's JSON, or undefined when there is no such item (or not on macOS). */
export async function readClaudeCodeKeychain(options: KeychainOptions = {}): Promise<unknown> {
  if (!usesKeychain(options.platform)) return undefined;
  const service = options.service ?? CLAUDE_CODE_KEYCHAIN_SERVICE;
  let result: CommandResult;
  try {
    result = await (options.runner ?? runCommand)("security", ["find-generic-password", "-w", "-s", service], {
      timeoutMs: options.timeoutMs ?? 15_000,
      ...(options.env ? { env: options.env } : {}),
    });
  } catch (error) {
    throw keychainError(`Could not read the macOS Keychain item "${service}": ${(error as Error).message}.`);
  }
  if (result.code === ITEM_NOT_FOUND) return undefined;
  if (result.code !== 0) {
    // The user pressed Deny (or the keychain is locked and nobody could unlock it).
    throw keychainError(
      `macOS refused access to the Keychain item "${service}" (security exited ${result.code ?? "on a signal"}: ${firstLine(result.stderr) || "no message"}). Allow access when macOS asks, or use \`credpool login anthropic\`.`,
    );
  }
  try {
    return JSON.parse(result.stdout.trim()) as unknown;
  } catch {
    throw keychainError(`The Keychain item "${service}" does not hold JSON.`);
  }
}

/** Replaces the item's JSON (add-generic-password -U), passing the value as hex over stdin. */
export async function writeClaudeCodeKeychain(json: unknown, options: KeychainOptions = {}): Promise<void> {
  if (!usesKeychain(options.platform)) return;
  const service = options.service ?? CLAUDE_CODE_KEYCHAIN_SERVICE;
  const account = options.env?.USER ?? userInfo().username;
  const hex = Buffer.from(JSON.stringify(json), "utf8").toString("hex");
  const quote = (value: string): string => `"${value.replace(/["\\]/g, "\\$&")}"`;
  let result: CommandResult;
  try {
    result = await (options.runner ?? runCommand)("security", ["-i"], {
      input: `add-generic-password -U -a ${quote(account)} -s ${quote(service)} -X ${hex}\n`,
      timeoutMs: options.timeoutMs ?? 15_000,
      ...(options.env ? { env: options.env } : {}),
    });
  } catch (error) {
    throw keychainError(`Could not write the macOS Keychain item "${service}": ${(error as Error).message}.`);
  }
  if (result.code !== 0) {
    throw keychainError(
      `macOS refused to update the Keychain item "${service}" (security exited ${result.code ?? "on a signal"}: ${firstLine(result.stderr) || "no message"}).`,
    );
  }
}
