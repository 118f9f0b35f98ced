// Loads $CREDPOOL_HOME/config.json and applies CREDPOOL_* environment overrides, rejecting out-of-range values at
// start-up with a message that names the field (and the variable it came from).
import { open } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { z } from "zod";
import { PoolError, errnoCode, ioError } from "../errors.js";
import { findUnknownKeys, listKnownKeys, suggestKey } from "../options.js";
import { resolveCredpoolHome } from "../store/paths.js";
import { CONFIG_FILE_NAME, credpoolConfigSchema, type CredpoolConfig, type TotpConfig } from "./config-schema.js";

type EnvKind = "integer" | "boolean" | "string";

/** Each override: the variable, the field it sets, and how its text becomes a value. */
export const TOTP_ENV_OVERRIDES: readonly {
  readonly env: string;
  readonly field: keyof TotpConfig;
  readonly kind: EnvKind;
}[] = [
  { env: "CREDPOOL_TOTP_SECRET_FILE", field: "secretFile", kind: "string" },
  { env: "CREDPOOL_TOTP_SECRET_COMMAND", field: "secretCommand", kind: "string" },
  { env: "CREDPOOL_TOTP_SECRET_COMMAND_TIMEOUT_MS", field: "secretCommandTimeoutMs", kind: "integer" },
  { env: "CREDPOOL_TOTP_ALGORITHM", field: "algorithm", kind: "string" },
  { env: "CREDPOOL_TOTP_LOCKOUT_ATTEMPTS", field: "lockoutAttempts", kind: "integer" },
  { env: "CREDPOOL_TOTP_LOCKOUT_MINUTES", field: "lockoutMinutes", kind: "integer" },
  { env: "CREDPOOL_TOTP_BURST_ATTEMPTS", field: "burstAttempts", kind: "integer" },
  { env: "CREDPOOL_TOTP_BURST_WINDOW_SECONDS", field: "burstWindowSeconds", kind: "integer" },
  { env: "CREDPOOL_TOTP_BURST_BLOCK_SECONDS", field: "burstBlockSeconds", kind: "integer" },
  { env: "CREDPOOL_TOTP_SESSION_MINUTES", field: "sessionMinutes", kind: "integer" },
  { env: "CREDPOOL_TOTP_CHALLENGE_SECONDS", field: "challengeSeconds", kind: "integer" },
  { env: "CREDPOOL_TOTP_AUDIT_THROTTLE_SECONDS", field: "auditThrottleSeconds", kind: "integer" },
  { env: "CREDPOOL_TOTP_REQUIRE_TO_SERVE", field: "requireTotpToServe", kind: "boolean" },
];

export interface LoadConfigOptions {
  /** The credpool directory; default $CREDPOOL_HOME (see resolveCredpoolHome). */
  readonly home?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** A key config.json holds that this build does not use as written; the file still loads. */
export interface ConfigWarning {
  /** The dotted path, e.g. `totp.lockoutAtempts`. */
  readonly key: string;
  readonly file: string;
  /** Names the key and the file, and the key that was probably meant. */
  readonly message: string;
}

export interface LoadedConfig {
  readonly home: string;
  readonly path: string;
  /** False when there is no config.json and only defaults and the environment apply. */
  readonly fileExists: boolean;
  readonly config: CredpoolConfig;
  /** Unknown and renamed keys. Callers show each once: the CLI on stderr, the gateway in its log, doctor as a finding. */
  readonly warnings: readonly ConfigWarning[];
}

/** Old names still read, with the name that replaced them. */
const RENAMED_KEYS: ReadonlyMap<string, string> = new Map([["refresh.adapters", "refresh.providers"]]);

/** Where the TOTP secret comes from, with paths made absolute. */
export type TotpSecretSource =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "command"; readonly argv: readonly string[]; readonly timeoutMs: number };

function invalid(message: string, cause?: unknown): PoolError {
  return new PoolError("E_INVALID_OPTIONS", message, cause === undefined ? {} : { cause });
}

/** Reads config.json; a missing file is `null`. The file can choose a command to run, so it must be ours alone. */
async function readConfigText(path: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return null;
    throw ioError("open", path, error);
  }
  try {
    const info = await handle.stat();
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) {
      throw invalid(
        `${path} belongs to uid ${info.uid}, not to you (uid ${uid}); credpool will not take settings from it. Fix: chown $(id -u) ${path}`,
      );
    }
    if ((info.mode & 0o022) !== 0) {
      throw invalid(
        `${path} is writable by group or others (mode ${(info.mode & 0o777).toString(8)}), so they could change which secret command runs. Fix: chmod 600 ${path}`,
      );
    }
    return await handle.readFile("utf8");
  } catch (error) {
    if (error instanceof PoolError) throw error;
    throw ioError("read", path, error);
  } finally {
    await handle.close();
  }
}

function coerceEnv(name: string, kind: EnvKind, raw: string): unknown {
  const text = raw.trim();
  if (kind === "string") return text;
  if (kind === "boolean") {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw invalid(`${name} must be true or false (or 1 or 0), got "${text}".`);
  }
  if (!/^-?\d+$/.test(text)) throw invalid(`${name} must be a whole number, got "${text}".`);
  return Number(text);
}

function describeIssues(error: z.ZodError, origins: ReadonlyMap<string, string>, path: string): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.map(String).join(".");
    const origin = origins.get(field);
    const where = field === "" ? path : `${field} (${origin ?? `in ${path}`})`;
    return `  ${where}: ${issue.message}`;
  });
  return `Invalid credpool configuration:\n${lines.join("\n")}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The file as this build reads it: `refresh.adapters` (the old name) folded into `refresh.providers`. */
function applyRenamedKeys(raw: Record<string, unknown>): Record<string, unknown> {
  const refresh = raw.refresh;
  if (!isObject(refresh) || refresh.adapters === undefined) return raw;
  const { adapters, ...rest } = refresh;
  const providers =
    isObject(adapters) && isObject(rest.providers) ? { ...adapters, ...rest.providers } : (rest.providers ?? adapters);
  return { ...raw, refresh: { ...rest, providers } };
}

/** One warning per key of `raw` that the schema does not know, or knows under a new name. */
export function findConfigWarnings(raw: unknown, path = CONFIG_FILE_NAME): ConfigWarning[] {
  if (!isObject(raw)) return [];
  const warnings: ConfigWarning[] = [];
  for (const [key, renamed] of RENAMED_KEYS) {
    const [section, name] = key.split(".");
    const holder = section === undefined ? undefined : raw[section];
    if (name !== undefined && isObject(holder) && holder[name] !== undefined) {
      warnings.push({
        key,
        file: path,
        message: `\`${key}\` in ${path} is the old name of \`${renamed}\`; it still works, but rename it.`,
      });
    }
  }
  const read = applyRenamedKeys(raw);
  const candidates = listKnownKeys(credpoolConfigSchema, read);
  for (const key of findUnknownKeys(credpoolConfigSchema, read)) {
    const suggestion = suggestKey(key, candidates);
    warnings.push({
      key,
      file: path,
      message: `unknown key \`${key}\` in ${path} is ignored${suggestion === undefined ? "." : `; did you mean \`${suggestion}\`?`}`,
    });
  }
  return warnings;
}

/** Validates a raw config object with the environment applied on top. Exported for tests and other layers. */
export function resolveConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  path = CONFIG_FILE_NAME,
): CredpoolConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw invalid(`${path} must hold a JSON object.`);
  const merged: Record<string, unknown> = applyRenamedKeys({ ...(raw as Record<string, unknown>) });
  const fileTotp = merged.totp;
  if (fileTotp !== undefined && (fileTotp === null || typeof fileTotp !== "object" || Array.isArray(fileTotp))) {
    throw invalid(`totp (in ${path}): must be an object.`);
  }
  const totp: Record<string, unknown> = { ...((fileTotp as Record<string, unknown> | undefined) ?? {}) };
  const origins = new Map<string, string>();
  for (const override of TOTP_ENV_OVERRIDES) {
    const value = env[override.env];
    if (value === undefined || value === "") continue;
    totp[override.field] = coerceEnv(override.env, override.kind, value);
    origins.set(`totp.${override.field}`, `from ${override.env}`);
  }
  // An environment override of the secret source replaces the file's choice instead of conflicting with it.
  const envFile = origins.has("totp.secretFile");
  const envCommand = origins.has("totp.secretCommand");
  if (envFile && envCommand) {
    throw invalid("Set either CREDPOOL_TOTP_SECRET_FILE or CREDPOOL_TOTP_SECRET_COMMAND, not both.");
  }
  if (envFile) delete totp.secretCommand;
  if (envCommand) delete totp.secretFile;
  merged.totp = totp;
  const parsed = credpoolConfigSchema.safeParse(merged);
  if (!parsed.success) throw invalid(describeIssues(parsed.error, origins, path), parsed.error);
  return parsed.data;
}

/** Reads $CREDPOOL_HOME/config.json (missing means defaults) and applies the environment. */
export async function loadCredpoolConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const home = resolve(options.home ?? resolveCredpoolHome(env));
  const path = join(home, CONFIG_FILE_NAME);
  const text = await readConfigText(path);
  let raw: unknown = {};
  if (text !== null) {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      // The parser's message can quote file content; keep only its position.
      const position = /position (\d+)/.exec(error instanceof Error ? error.message : "")?.[1];
      throw invalid(
        `${path} is not valid JSON${position === undefined ? "" : ` (at character ${position})`}; fix or remove it.`,
        error,
      );
    }
  }
  const config = resolveConfig(raw, env, path);
  return { home, path, fileExists: text !== null, config, warnings: findConfigWarnings(raw, path) };
}

/** The secret source the TOTP config names; the default is totp.secret in the credpool directory. */
export function resolveTotpSecretSource(totp: TotpConfig, home: string): TotpSecretSource {
  if (totp.secretCommand !== undefined) {
    return { kind: "command", argv: totp.secretCommand, timeoutMs: totp.secretCommandTimeoutMs };
  }
  const file = totp.secretFile ?? "totp.secret";
  return { kind: "file", path: isAbsolute(file) ? file : join(home, file) };
}
