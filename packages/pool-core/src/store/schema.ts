// Pool document schema v1. Objects are loose so fields written by a newer build survive an older one's update.
import { z } from "zod";

export const SCHEMA_VERSION = 1;

export const STRATEGIES = ["fill_first", "round_robin", "least_used", "random", "headroom"] as const;
export const strategySchema = z.enum(STRATEGIES);
export type Strategy = z.infer<typeof strategySchema>;

export const credentialStateSchema = z.enum(["ok", "exhausted", "dead"]);
export type CredentialState = z.infer<typeof credentialStateSchema>;

const epochMs = z.number().int().nonnegative();

export const credentialStatusSchema = z.looseObject({
  state: credentialStateSchema,
  since: epochMs.optional(),
  until: epochMs.optional(),
  reason: z.string().optional(),
  httpStatus: z.number().int().optional(),
  message: z.string().optional(),
  /** Set when the cooldown covers only this model. */
  model: z.string().optional(),
  /** Consecutive failures of this class, for exponential backoff. */
  strikes: z.number().int().nonnegative().optional(),
});
export type CredentialStatus = z.infer<typeof credentialStatusSchema>;

export const credentialSecretsSchema = z.looseObject({
  apiKey: z.string().optional(),
  accessToken: z.string().optional(),
  refreshToken: z.string().optional(),
  /** Access-token expiry, epoch milliseconds. */
  expiresAt: epochMs.optional(),
  idToken: z.string().optional(),
  accountId: z.string().optional(),
});
export type CredentialSecrets = z.infer<typeof credentialSecretsSchema>;

export const leaseRecordSchema = z.looseObject({
  id: z.string().min(1),
  startedAt: epochMs,
  expiresAt: epochMs,
  holder: z.string().optional(),
  model: z.string().optional(),
});
export type LeaseRecord = z.infer<typeof leaseRecordSchema>;

export const usageSchema = z.looseObject({
  requests: z.number().int().nonnegative().default(0),
  failures: z.number().int().nonnegative().default(0),
  lastUsedAt: epochMs.optional(),
});
export type Usage = z.infer<typeof usageSchema>;

/** One quota window as last reported by the upstream (pool/quota-windows.ts reads them off response headers). */
export const quotaWindowSchema = z.looseObject({
  /** `5h`, `7d`, `requests`, `tokens`, `input-tokens`, a Codex window named by its length... */
  name: z.string().min(1),
  /** Share of the window used, 0..1. */
  utilisation: z.number().min(0).max(1).optional(),
  resetAt: epochMs.optional(),
  status: z.enum(["allowed", "allowed_warning", "rejected"]).optional(),
  /** When the response that reported this window arrived; a newer observation replaces an older one. */
  observedAt: epochMs,
});
export type StoredQuotaWindow = z.infer<typeof quotaWindowSchema>;

export const credentialQuotaSchema = z.looseObject({
  windows: z.array(quotaWindowSchema).default([]),
  /** Anthropic's representative claim as a window name: the window that governs the account. */
  representative: z.string().optional(),
  observedAt: epochMs,
});
export type CredentialQuota = z.infer<typeof credentialQuotaSchema>;

export const credentialSchema = z.looseObject({
  id: z.string().min(1),
  label: z.string().min(1),
  provider: z.string().min(1),
  kind: z.enum(["api_key", "oauth"]),
  priority: z.number().int().default(0),
  source: z.string().min(1).default("manual"),
  baseUrl: z.string().optional(),
  secrets: credentialSecretsSchema.default({}),
  tokenGeneration: z.number().int().nonnegative().default(0),
  /** Set by an admin: never selected, whatever its status, until enabled again. */
  disabled: z.boolean().optional(),
  status: credentialStatusSchema.default({ state: "ok" }),
  modelCooldowns: z.array(credentialStatusSchema).optional(),
  statusClearedAt: epochMs.optional(),
  usage: usageSchema.default({ requests: 0, failures: 0 }),
  maxConcurrent: z.number().int().positive().optional(),
  leases: z.array(leaseRecordSchema).optional(),
  createdAt: epochMs.optional(),
  quota: credentialQuotaSchema.optional(),
});
export type Credential = z.infer<typeof credentialSchema>;

export const providerPoolSchema = z.looseObject({
  strategy: strategySchema.optional(),
  /** Round-robin cursor shared by every process. */
  cursor: z.number().int().nonnegative().optional(),
  credentials: z.array(credentialSchema).default([]),
});
export type ProviderPool = z.infer<typeof providerPoolSchema>;

/**
 * Set while a TOTP gate protects this pool, so the gate travels with the document: reaching it through a hard link,
 * a symlink or another CREDPOOL_HOME still finds the gate (auth/pool-gate.ts).
 */
export const poolGateSchema = z.looseObject({
  kind: z.literal("totp"),
  /** The protected directory: its config.json, auth-state.json and (by default) totp.secret. Absolute. */
  home: z.string().min(1),
  /** Matches auth-state.json's totp.gateId: state from another gate is not this pool's. */
  gateId: z.string().min(1),
  since: epochMs,
  /** Wrong codes counted so far; an auth-state.json with fewer is an old copy and is refused. */
  spentGuesses: z.number().int().nonnegative(),
});
export type PoolGate = z.infer<typeof poolGateSchema>;

/**
 * How the pool's keys may be used. "lease" (the default) hands a leased key to the caller, for agents that call
 * providers themselves. "never" keeps every key inside credpool: leases carry no secret, `exec` refuses, and only
 * the gateway's proxy and a TOTP-gated reveal or export use the keys.
 */
export const SECRET_RELEASE_MODES = ["lease", "never"] as const;
export const secretReleaseSchema = z.enum(SECRET_RELEASE_MODES);
export type SecretRelease = z.infer<typeof secretReleaseSchema>;

export const poolSettingsSchema = z.looseObject({
  secrets: z.looseObject({ release: secretReleaseSchema.optional() }).optional(),
});
export type PoolSettings = z.infer<typeof poolSettingsSchema>;

/** The pool's secret-release mode; "lease" unless the document says otherwise. */
export function secretReleaseOf(doc: Pick<PoolDocument, "settings">): SecretRelease {
  return doc.settings?.secrets?.release ?? "lease";
}

export const poolDocumentSchema = z.looseObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  rev: z.number().int().nonnegative(),
  updatedAt: z.string(),
  providers: z.record(z.string().min(1), providerPoolSchema).default({}),
  gate: poolGateSchema.optional(),
  settings: poolSettingsSchema.optional(),
});
export type PoolDocument = z.infer<typeof poolDocumentSchema>;

export function createEmptyPoolDocument(): PoolDocument {
  return { schemaVersion: SCHEMA_VERSION, rev: 0, updatedAt: new Date(0).toISOString(), providers: {} };
}
