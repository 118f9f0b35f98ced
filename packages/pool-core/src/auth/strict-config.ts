// Only the protected side may loosen the gate: an agent controls its own environment, so a CREDPOOL_TOTP_* variable
// counts only when it makes a setting stricter than config.json (see pool-cli/test/totp-gate-travels.test.ts).
import { isDeepStrictEqual } from "node:util";
import { TOTP_ENV_OVERRIDES } from "../config/load-config.js";
import type { TotpConfig } from "../config/config-schema.js";

type Direction = "lower" | "higher" | "same" | "true" | "free";

/** Which way each setting gets stricter. */
const STRICTER: Record<string, Direction> = {
  lockoutAttempts: "lower",
  burstAttempts: "lower",
  sessionMinutes: "lower",
  challengeSeconds: "lower",
  auditThrottleSeconds: "lower",
  lockoutMinutes: "higher",
  burstWindowSeconds: "higher",
  burstBlockSeconds: "higher",
  secretFile: "same",
  secretCommand: "same",
  algorithm: "same",
  requireTotpToServe: "true",
  // How long to wait for the secret command loosens nothing: it fails closed either way.
  secretCommandTimeoutMs: "free",
};

export interface IgnoredTotpOverride {
  readonly env: string;
  readonly field: string;
  /** Why it was not used, for a warning. */
  readonly message: string;
}

function isStricterOrEqual(direction: Direction, fromFile: unknown, fromEnv: unknown): boolean {
  switch (direction) {
    case "lower":
      return (fromEnv as number) <= (fromFile as number);
    case "higher":
      return (fromEnv as number) >= (fromFile as number);
    case "true":
      return fromEnv === true || fromFile === fromEnv;
    case "same":
      return isDeepStrictEqual(fromEnv, fromFile);
    case "free":
      return true;
  }
}

/**
 * Keeps each environment override that is at least as strict as config.json's value and drops the rest, naming each
 * dropped variable. `fromFile` is config.json alone; `withEnv` is the same with the environment applied.
 */
export function tightenTotpConfig(
  fromFile: TotpConfig,
  withEnv: TotpConfig,
  env: NodeJS.ProcessEnv,
): { config: TotpConfig; ignored: IgnoredTotpOverride[] } {
  const config: Record<string, unknown> = { ...fromFile };
  const ignored: IgnoredTotpOverride[] = [];
  const sourceVars = ["CREDPOOL_TOTP_SECRET_FILE", "CREDPOOL_TOTP_SECRET_COMMAND"];
  for (const { env: name, field } of TOTP_ENV_OVERRIDES) {
    if (env[name] === undefined || env[name] === "") continue;
    const direction = STRICTER[field] ?? "same";
    const fileValue = fromFile[field];
    const envValue = withEnv[field];
    if (sourceVars.includes(name)) {
      // Where the secret lives is never the environment's choice.
      if (
        isDeepStrictEqual(fromFile.secretFile, withEnv.secretFile) &&
        isDeepStrictEqual(fromFile.secretCommand, withEnv.secretCommand)
      )
        continue;
      ignored.push({
        env: name,
        field,
        message: `${name} is ignored: where the TOTP secret lives is set only in config.json (totp.${field}).`,
      });
      continue;
    }
    if (isStricterOrEqual(direction, fileValue, envValue)) {
      config[field] = envValue;
    } else {
      ignored.push({
        env: name,
        field,
        message: `${name}=${String(env[name])} is ignored: it would loosen totp.${field} (${JSON.stringify(fileValue)} from config.json); the environment may only make it stricter.`,
      });
    }
  }
  return { config: config as TotpConfig, ignored };
}
