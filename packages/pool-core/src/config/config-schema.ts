// The schema of $CREDPOOL_HOME/config.json. Unknown keys are not refused, so a file written for a newer build still
// loads, and loadCredpoolConfig warns about each one. Unknown top-level sections are kept for the layer that reads
// them; unknown keys inside a section are dropped, so factories that refuse unknown options can take a section.
import { z } from "zod";
import { refresherConfigSchema } from "../refresh/index.js";

export const CONFIG_FILE_NAME = "config.json";

export const TOTP_ALGORITHMS = ["SHA1", "SHA256", "SHA512"] as const;
export type TotpAlgorithm = (typeof TOTP_ALGORITHMS)[number];

function wholeNumber(min: number, max: number, unit: string) {
  return z
    .number()
    .int(`must be a whole number of ${unit}`)
    .min(min, `must be at least ${min} ${unit}`)
    .max(max, `must be at most ${max} ${unit}`);
}

/** A command and its arguments, run with no shell; a string is split on whitespace (no quoting). */
const secretCommandSchema = z.unknown().transform((value, context): string[] => {
  if (Array.isArray(value) && value.length > 0 && value.every((arg) => typeof arg === "string" && arg !== "")) {
    return value as string[];
  }
  if (typeof value === "string" && value.trim() !== "") {
    if (/["'`\\$|;&<>]/.test(value)) {
      context.addIssue({
        code: "custom",
        message:
          "runs with no shell, so quotes, $, |, ;, & and redirections do not work; give it as a JSON array of arguments in config.json instead",
      });
      return [];
    }
    return value.trim().split(/\s+/);
  }
  context.addIssue({
    code: "custom",
    message: 'must be a program and its arguments, e.g. ["sudo", "-n", "cat", "/etc/credpool/totp.secret"]',
  });
  return [];
});

export const totpConfigSchema = z
  .object({
    /** The secret file. Relative paths are taken from $CREDPOOL_HOME. Default: totp.secret there. */
    secretFile: z.string().min(1).optional(),
    /** A command that prints the secret, e.g. ["sudo", "-n", "cat", "/etc/credpool/totp.secret"]. */
    secretCommand: secretCommandSchema.optional(),
    secretCommandTimeoutMs: wholeNumber(100, 60_000, "milliseconds").default(5000),
    algorithm: z.enum(TOTP_ALGORITHMS).default("SHA1"),
    lockoutAttempts: wholeNumber(1, 100, "attempts").default(3),
    lockoutMinutes: wholeNumber(1, 1440, "minutes").default(15),
    burstAttempts: wholeNumber(2, 1000, "attempts").default(6),
    burstWindowSeconds: wholeNumber(1, 3600, "seconds").default(60),
    burstBlockSeconds: wholeNumber(1, 86_400, "seconds").default(60),
    sessionMinutes: wholeNumber(1, 1440, "minutes").default(30),
    challengeSeconds: wholeNumber(10, 3600, "seconds").default(120),
    /** Repeated audit lines for one principal and event within this window are folded into a count. */
    auditThrottleSeconds: wholeNumber(0, 3600, "seconds").default(60),
    /** The gateway serves no leases until an admin has authenticated since it started. */
    requireTotpToServe: z.boolean().default(false),
  })
  .refine((totp) => !(totp.secretFile !== undefined && totp.secretCommand !== undefined), {
    message: "set either secretFile or secretCommand, not both",
  });

/** Which environment variables `credpool sync` seeds API keys from, e.g. {"env": {"MY_OPENROUTER_KEY": "openrouter"}}. */
export const sourcesConfigSchema = z.object({
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"), z.string().min(1))
    .optional(),
});

export const credpoolConfigSchema = z.looseObject({
  totp: totpConfigSchema.default(() => totpConfigSchema.parse({})),
  /** OAuth refresh: per-provider token endpoints, client ids and skews, timeouts, backoff (refresh/). CREDPOOL_* env wins. */
  refresh: refresherConfigSchema.optional(),
  sources: sourcesConfigSchema.optional(),
});

export type CredpoolConfigInput = z.input<typeof credpoolConfigSchema>;
export type CredpoolConfig = z.output<typeof credpoolConfigSchema>;
export type TotpConfig = z.output<typeof totpConfigSchema>;
export type SourcesConfig = z.output<typeof sourcesConfigSchema>;
