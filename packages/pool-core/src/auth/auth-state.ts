// auth-state.json: TOTP attempts, lockouts and last accepted steps, stored with the pool's lock and atomic-write
// rules so concurrent failures from several processes never lose an increment (see test/auth/exact-counting.test.ts).
import { z } from "zod";
import { TOTP_ALGORITHMS, type TotpConfig } from "../config/config-schema.js";
import type { DocumentSpec } from "../store/file-backend.js";

export const AUTH_STATE_FILE_NAME = "auth-state.json";
export const AUTH_STATE_SCHEMA_VERSION = 1;

const epochMs = z.number().int().nonnegative();

// Fields are required rather than defaulted: a file missing them is partial, and partial state must deny access.
export const principalAuthStateSchema = z.looseObject({
  /** Consecutive wrong codes since the last success or the end of the last lockout. */
  failures: z.number().int().nonnegative(),
  lockedUntil: epochMs.optional(),
  lockoutStartedAt: epochMs.optional(),
  /** The last time step accepted for this principal; any step at or below it is a replay. */
  lastStep: z.number().int().nonnegative().optional(),
  /** When recent well-formed attempts were made, for the burst limit; only the current window is kept. */
  attemptTimes: z.array(epochMs),
  burstUntil: epochMs.optional(),
  lastSuccessAt: epochMs.optional(),
  lastFailureAt: epochMs.optional(),
});
export type PrincipalAuthState = z.infer<typeof principalAuthStateSchema>;

export const TOTP_SECRET_SOURCES = ["file", "command"] as const;
export type TotpSecretKind = (typeof TOTP_SECRET_SOURCES)[number];

export const authStateSchema = z.looseObject({
  schemaVersion: z.literal(AUTH_STATE_SCHEMA_VERSION),
  rev: z.number().int().nonnegative(),
  updatedAt: z.string(),
  /** Present once setup was confirmed with a valid code: from then on a missing secret is broken, not "off". */
  totp: z
    .looseObject({
      configuredAt: epochMs,
      source: z.enum(TOTP_SECRET_SOURCES),
      algorithm: z.enum(TOTP_ALGORITHMS),
      label: z.string().optional(),
      secretFingerprint: z.string().regex(/^[0-9a-f]{16}$/),
      /** Names this gate in the pool's gate record (store/schema.ts). */
      gateId: z.string().min(1).optional(),
    })
    .optional(),
  /** Wrong codes ever counted; never goes down, so a copy older than the pool's gate record shows. */
  spentGuesses: z.number().int().nonnegative().optional(),
  /** A setup that was started and not yet confirmed. */
  setup: z
    .looseObject({
      startedAt: epochMs,
      source: z.enum(TOTP_SECRET_SOURCES),
      algorithm: z.enum(TOTP_ALGORITHMS),
      label: z.string().optional(),
      secretFingerprint: z.string().regex(/^[0-9a-f]{16}$/),
    })
    .optional(),
  /** The newest step accepted for anyone: one shared secret means a code, once used, is used for everyone. */
  lastAcceptedStep: z.number().int().nonnegative().optional(),
  principals: z.record(z.string().min(1), principalAuthStateSchema),
});
export type AuthStateDocument = z.infer<typeof authStateSchema>;

export function createEmptyAuthState(): AuthStateDocument {
  return { schemaVersion: AUTH_STATE_SCHEMA_VERSION, rev: 0, updatedAt: new Date(0).toISOString(), principals: {} };
}

export const authStateDocumentSpec: DocumentSpec<AuthStateDocument> = {
  schema: authStateSchema,
  empty: createEmptyAuthState,
  noun: "auth state",
};

export interface AttemptLimits {
  readonly lockoutAttempts: number;
  readonly lockoutMs: number;
  readonly burstAttempts: number;
  readonly burstWindowMs: number;
  readonly burstBlockMs: number;
}

export function attemptLimitsFrom(config: TotpConfig): AttemptLimits {
  return {
    lockoutAttempts: config.lockoutAttempts,
    lockoutMs: config.lockoutMinutes * 60_000,
    burstAttempts: config.burstAttempts,
    burstWindowMs: config.burstWindowSeconds * 1000,
    burstBlockMs: config.burstBlockSeconds * 1000,
  };
}

export type AttemptVerdict =
  | { readonly kind: "ok"; readonly step: number }
  | { readonly kind: "invalid"; readonly failures: number; readonly remaining: number }
  | { readonly kind: "replay"; readonly step: number }
  | {
      readonly kind: "locked";
      readonly reason: "lockout" | "burst";
      readonly until: number;
      /** True when this attempt started the block. */
      readonly started: boolean;
      readonly failures: number;
    };

/** Things that happened during one transition, for the audit log. */
export type AttemptNotice =
  | {
      readonly type: "lockout.start";
      readonly reason: "lockout" | "burst";
      readonly until: number;
      readonly failures: number;
    }
  | { readonly type: "lockout.end"; readonly reason: "lockout" | "burst" };

/** The block in force for `principal` at `now`, if any; read-only, for checks made without the lock. */
export function findActiveBlock(
  doc: AuthStateDocument,
  principal: string,
  now: number,
): { reason: "lockout" | "burst"; until: number; failures: number } | undefined {
  const entry = doc.principals[principal];
  if (!entry) return undefined;
  if (entry.lockedUntil !== undefined && entry.lockedUntil > now) {
    return { reason: "lockout", until: entry.lockedUntil, failures: entry.failures };
  }
  if (entry.burstUntil !== undefined && entry.burstUntil > now) {
    return { reason: "burst", until: entry.burstUntil, failures: entry.failures };
  }
  return undefined;
}

/** Ends blocks that have run out. Returns what ended. */
function expireBlocks(entry: PrincipalAuthState, now: number): AttemptNotice[] {
  const notices: AttemptNotice[] = [];
  if (entry.lockedUntil !== undefined && entry.lockedUntil <= now) {
    delete entry.lockedUntil;
    delete entry.lockoutStartedAt;
    // The lockout was the penalty for those failures; the next ones start a fresh count.
    entry.failures = 0;
    notices.push({ type: "lockout.end", reason: "lockout" });
  }
  if (entry.burstUntil !== undefined && entry.burstUntil <= now) {
    delete entry.burstUntil;
    notices.push({ type: "lockout.end", reason: "burst" });
  }
  return notices;
}

/** An entry that remembers nothing the gate still needs can go, so the file does not grow with every principal. */
function isIdle(entry: PrincipalAuthState, now: number, limits: AttemptLimits): boolean {
  return (
    entry.failures === 0 &&
    entry.lockedUntil === undefined &&
    entry.burstUntil === undefined &&
    entry.attemptTimes.every((at) => at <= now - limits.burstWindowMs)
  );
}

/**
 * One well-formed attempt, applied to fresh state under the lock. `step` is the step the code matched, or null
 * for a wrong code. Mutates `doc`; pure otherwise, so the store may run it again on newer state.
 */
export function applyAttempt(
  doc: AuthStateDocument,
  input: { principal: string; now: number; step: number | null; limits: AttemptLimits },
): { verdict: AttemptVerdict; notices: AttemptNotice[] } {
  const { principal, now, step, limits } = input;
  const entry: PrincipalAuthState = doc.principals[principal] ?? { failures: 0, attemptTimes: [] };
  doc.principals[principal] = entry;
  const notices = expireBlocks(entry, now);

  const finish = (verdict: AttemptVerdict): { verdict: AttemptVerdict; notices: AttemptNotice[] } => {
    for (const [name, other] of Object.entries(doc.principals)) {
      // Entries with a block, even an expired one, stay until their principal returns and sees it end.
      if (name !== principal && isIdle(other, now, limits)) delete doc.principals[name];
    }
    return { verdict, notices };
  };

  const block = findActiveBlock(doc, principal, now);
  if (block)
    return finish({
      kind: "locked",
      reason: block.reason,
      until: block.until,
      started: false,
      failures: entry.failures,
    });

  entry.attemptTimes = entry.attemptTimes.filter((at) => at > now - limits.burstWindowMs);
  entry.attemptTimes.push(now);
  if (entry.attemptTimes.length >= limits.burstAttempts) {
    entry.burstUntil = now + limits.burstBlockMs;
    notices.push({ type: "lockout.start", reason: "burst", until: entry.burstUntil, failures: entry.failures });
    return finish({
      kind: "locked",
      reason: "burst",
      until: entry.burstUntil,
      started: true,
      failures: entry.failures,
    });
  }

  if (step === null) {
    doc.spentGuesses = (doc.spentGuesses ?? 0) + 1;
    entry.failures += 1;
    entry.lastFailureAt = now;
    if (entry.failures >= limits.lockoutAttempts) {
      entry.lockedUntil = now + limits.lockoutMs;
      entry.lockoutStartedAt = now;
      notices.push({ type: "lockout.start", reason: "lockout", until: entry.lockedUntil, failures: entry.failures });
      return finish({
        kind: "locked",
        reason: "lockout",
        until: entry.lockedUntil,
        started: true,
        failures: entry.failures,
      });
    }
    return finish({ kind: "invalid", failures: entry.failures, remaining: limits.lockoutAttempts - entry.failures });
  }

  const newest = Math.max(entry.lastStep ?? -1, doc.lastAcceptedStep ?? -1);
  // A replay is not a guess (whoever sends it saw a real code), so it is not a failure; the burst limit still applies.
  if (step <= newest) return finish({ kind: "replay", step });
  entry.failures = 0;
  entry.lastStep = step;
  entry.lastSuccessAt = now;
  doc.lastAcceptedStep = step;
  return finish({ kind: "ok", step });
}
