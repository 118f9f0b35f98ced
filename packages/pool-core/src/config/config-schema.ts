// The schema of $CREDPOOL_HOME/config.json. Unknown keys are not refused, so a file written for a newer build still
// loads, and loadCredpoolConfig warns about each one. Unknown top-level sections are kept for the layer that reads
// them; unknown keys inside a section are dropped, so factories that refuse unknown options can take a section.
import { z } from "zod";
import { loginConfigSchema } from "../login/config.js";
import { refresherConfigSchema } from "../refresh/index.js";
import { pricesConfigSchema } from "../usage/usage-report.js";

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

const MiB = 1024 * 1024;

const baseUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/**
 * The gateway's proxy (the `proxy` section). Unknown keys are warned about like everywhere in config.json; the
 * gateway reads the section through pool-gateway's parseProxyConfig.
 */
export const proxyConfigSchema = z.object({
  /** Upstream base URL per provider (`anthropic`, `openai`, `openrouter`, `custom:<name>`); a credential's baseUrl wins. */
  upstreams: z.record(z.string().min(1), baseUrl).default({}),
  /** Credentials one request may try before its last upstream error is passed on. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  /** No new attempt starts this long after the request arrived. */
  deadlineMs: z.number().int().positive().max(3_600_000).default(120_000),
  /** Wait for a benched credential when the soonest recovers within this; otherwise answer 429 at once. */
  maxWaitMs: z.number().int().min(0).max(600_000).default(0),
  /** Request bodies are held up to this size so they can be sent again to the next credential. */
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .max(512 * MiB)
    .default(32 * MiB),
  connectTimeoutMs: z.number().int().positive().max(600_000).default(10_000),
  headersTimeoutMs: z.number().int().positive().max(3_600_000).default(600_000),
  bodyIdleTimeoutMs: z.number().int().positive().max(3_600_000).default(300_000),
  /** How much of a 200 SSE answer may be held while waiting for its first content event. */
  holdBytes: z
    .number()
    .int()
    .positive()
    .max(MiB)
    .default(16 * 1024),
  /** Error bodies are read whole (to classify them and pass them on) up to this size. */
  errorBodyBytes: z
    .number()
    .int()
    .positive()
    .max(16 * MiB)
    .default(MiB),
  /** The lease a proxied request holds; a gateway that dies mid-request frees a capped slot after this. */
  leaseTtlMs: z
    .number()
    .int()
    .positive()
    .max(24 * 3_600_000)
    .default(30 * 60_000),
  /** Session affinity: the requests of one conversation keep one credential while it can serve (prompt caching). */
  affinity: z
    .object({
      /** A binding unused this long is forgotten; every request of the session restarts the clock. */
      ttlMs: z
        .number()
        .int()
        .positive()
        .max(7 * 24 * 3_600_000)
        .default(3_600_000),
      /** Bindings kept in memory per gateway process; the least recently used goes first. 0 turns affinity off. */
      maxSessions: z.number().int().min(0).max(10_000_000).default(10_000),
    })
    .default({ ttlMs: 3_600_000, maxSessions: 10_000 }),
});

const SSL_MODES = ["disable", "require", "verify-ca", "verify-full"] as const;

/**
 * TLS to PostgreSQL (`store.ssl`): a mode as libpq names it, `true` (verify-full) / `false` (disable), or an object
 * with the mode and the certificates, inline PEM or a file each. Unknown keys are refused by name, not passed on.
 */
export const storeSslSchema = z.union([
  z.boolean(),
  z.enum(SSL_MODES),
  z.strictObject({
    mode: z.enum(SSL_MODES).default("verify-full"),
    /** The CA that signed the server's certificate (PEM), or a file holding it. */
    ca: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    /** A client certificate and key for certificate authentication (PEM, or files). */
    cert: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** The name the server's certificate must carry, when it differs from the URL's host. */
    servername: z.string().min(1).optional(),
    /** Deprecated spelling kept for configs written before `mode`: false means `require`. */
    rejectUnauthorized: z.boolean().optional(),
  }),
]);
export type StoreSslConfig = z.input<typeof storeSslSchema>;

/**
 * Where the pool and the other documents live (the `store` section). Without `url` they are files under
 * $CREDPOOL_HOME; with a postgres:// URL they are rows in PostgreSQL, shared by every host that points at it. The
 * password never goes in argv: PGPASSWORD, ~/.pgpass or `passwordFile`.
 */
export const storeConfigSchema = z.object({
  kind: z.enum(["file", "postgres"]).optional(),
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,53}$/, "must be a lower-case identifier (a-z, 0-9, _) of at most 54 characters")
    .optional(),
  passwordFile: z.string().min(1).optional(),
  lockTtlMs: wholeNumber(200, 600_000, "milliseconds").optional(),
  ssl: storeSslSchema.optional(),
});

export type StoreConfig = z.output<typeof storeConfigSchema>;

export const credpoolConfigSchema = z.looseObject({
  totp: totpConfigSchema.default(() => totpConfigSchema.parse({})),
  /** OAuth refresh: per-provider token endpoints, client ids and skews, timeouts, backoff (refresh/). CREDPOOL_* env wins. */
  refresh: refresherConfigSchema.optional(),
  sources: sourcesConfigSchema.optional(),
  proxy: proxyConfigSchema.optional(),
  /** Dollars per million tokens by model name or glob, for `credpool usage`; nothing is priced without it. */
  prices: pricesConfigSchema.optional(),
  /** `credpool login`: authorize and device endpoints, scopes, redirects and custom:<name> providers (login/). */
  login: loginConfigSchema.optional(),
  store: storeConfigSchema.optional(),
});

export type CredpoolConfigInput = z.input<typeof credpoolConfigSchema>;
export type CredpoolConfig = z.output<typeof credpoolConfigSchema>;
export type TotpConfig = z.output<typeof totpConfigSchema>;
export type SourcesConfig = z.output<typeof sourcesConfigSchema>;
export type ProxyConfigInput = z.input<typeof proxyConfigSchema>;
export type ProxyConfig = z.output<typeof proxyConfigSchema>;
