// The TOTP gate: verify a code once (replay-proof across processes), count failures under the store's lock, lock
// out, keep idle-limited sessions in memory, and deny whenever the secret or the state is in doubt.
import { z } from "zod";
import { PoolError } from "../errors.js";
import { functionOption, parseOptions } from "../options.js";
import { totpConfigSchema, type TotpConfig } from "../config/config-schema.js";
import { resolveTotpSecretSource, type TotpSecretSource } from "../config/load-config.js";
import {
  applyAttempt,
  attemptLimitsFrom,
  findActiveBlock,
  type AttemptLimits,
  type AttemptNotice,
  type AttemptVerdict,
  type AuthStateDocument,
} from "./auth-state.js";
import { createAuthStore, type AuthStore } from "./auth-store.js";
import type { DocumentStore } from "../store/backend.js";
import type { PoolGate } from "../store/schema.js";
import { updatePoolGate } from "./pool-gate.js";
import { createAuditThrottle, maskPrincipal, type AuditEvent, type AuditSink } from "./audit.js";
import { describeCommand } from "./secret-command.js";
import { fingerprintSecret, readTotpSecret, type SecretReadResult } from "./secret-store.js";
import { createSessionStore, type TotpChallenge, type TotpSession } from "./sessions.js";
import { createLockedError, createMalformedError, createVerdictError } from "./gate-errors.js";
import { findTotpStep, isWellFormedCode } from "./verifier.js";

export interface TotpGateOptions {
  /** The credpool directory: auth-state.json lives here, and so does totp.secret unless configured elsewhere. */
  readonly home: string;
  /** Resolved settings (see loadCredpoolConfig); omitted fields take their defaults. */
  readonly config?: Partial<TotpConfig>;
  /** Overrides where the secret comes from; default from `config` and `home`. */
  readonly secretSource?: TotpSecretSource;
  /** Default: auth-state.json in `home`. */
  readonly statePath?: string;
  /** The pool this gate protects: setup records the gate in it, and failures raise its spent-guess count. */
  readonly poolPath?: string;
  /** The pool's gate record as read (see readPoolGate); when set, state that does not match it is broken. */
  readonly poolGate?: PoolGate | null;
  /** Receives audit events, already throttled per principal and type. */
  readonly audit?: AuditSink;
  readonly clock?: () => number;
  readonly lockTimeoutMs?: number;
  readonly staleMs?: number;
  /**
   * A shared store (PostgreSQL): the state and the pool's gate record are its documents, shared by every host;
   * the secret, config.json and audit.log stay in `home` on each host.
   */
  readonly documents?: DocumentStore;
}

/**
 * - not-configured: no secret and no record of a setup; nothing is gated.
 * - setup-pending: a secret was generated and awaits confirmation (file secrets only; nothing is gated yet).
 * - configured: codes are required.
 * - broken: codes are required and cannot currently be checked, so every gated operation is denied.
 */
export type TotpGateState = "not-configured" | "setup-pending" | "configured" | "broken";

export interface TotpInspection {
  readonly state: TotpGateState;
  readonly secretSource:
    { readonly kind: "file"; readonly path: string } | { readonly kind: "command"; readonly command: string };
  readonly statePath: string;
  readonly configuredAt?: number;
  readonly pendingSince?: number;
  readonly label?: string;
  /** When broken: what is wrong and how to repair it. */
  readonly problem?: PoolError;
}

export interface TotpStatus extends TotpInspection {
  readonly principal: string;
  /** Consecutive wrong codes that count toward the lockout. */
  readonly failures: number;
  readonly lockoutAttempts: number;
  readonly block?: { readonly reason: "lockout" | "burst"; readonly until: number; readonly remainingMs: number };
  readonly session?: TotpSession;
  readonly challenge?: TotpChallenge;
}

export interface VerifyResult {
  readonly principal: string;
  readonly step: number;
  readonly session: TotpSession;
}

export type AuthorizeMethod = "not-configured" | "session" | "code";

export interface TotpGate {
  readonly home: string;
  readonly statePath: string;
  readonly config: TotpConfig;
  /** What state TOTP is in. `probeSecret` also runs a secret command (a file secret is always checked). */
  inspect(options?: { probeSecret?: boolean }): Promise<TotpInspection>;
  status(principal: string, options?: { probeSecret?: boolean }): Promise<TotpStatus>;
  /** Checks a code; resolves with a new session or rejects with an E_TOTP_* error. */
  /** `about.action` names what the code is for in the audit log. */
  verify(principal: string, code: string, about?: { readonly action?: string }): Promise<VerifyResult>;
  /** For a privileged action: passes when TOTP is off, on a live session, or with a valid code. */
  authorize(
    principal: string,
    request: { action: string; code?: string | undefined },
  ): Promise<{ method: AuthorizeMethod }>;
  /** Prompts for a code: opens the window in which `answerChallenge` accepts one. */
  challenge(principal: string): TotpChallenge;
  /** A code sent in reply to a prompt; refused without counting when no prompt is open. */
  answerChallenge(principal: string, input: string): Promise<VerifyResult>;
  readonly sessions: {
    get(principal: string): TotpSession | undefined;
    touch(principal: string): TotpSession | undefined;
    end(principal: string): boolean;
    list(): TotpSession[];
  };
  /** Whether anyone authenticated since this gate was made (the gateway's `requireTotpToServe`). */
  hasAuthenticatedSinceStart(): boolean;
  /** Emits held-back audit counts and closes the state file. */
  close(): Promise<void>;
}

/** TotpGateOptions as parseOptions checks them; `config` takes its defaults here. */
export const totpGateOptionsSchema = z.object({
  home: z.string().min(1),
  config: totpConfigSchema.prefault({}),
  secretSource: z
    .custom<TotpSecretSource>((value) => typeof value === "object" && value !== null, "must be a secret source")
    .optional(),
  statePath: z.string().min(1).optional(),
  poolPath: z.string().min(1).optional(),
  poolGate: z
    .custom<PoolGate | null>(
      (value) => value === null || (typeof value === "object" && value !== null),
      "must be a pool gate record",
    )
    .optional(),
  audit: functionOption.optional(),
  clock: functionOption.optional(),
  lockTimeoutMs: z.number().int().positive().optional(),
  staleMs: z.number().int().positive().optional(),
  documents: z
    .custom<DocumentStore>(
      (value) => typeof value === "object" && value !== null && typeof (value as DocumentStore).open === "function",
      "must be a document store",
    )
    .optional(),
});

/** The pool whose gate record counts, for messages: the shared store's pool document, or the pool file. */
export function poolWhere(options: Pick<TotpGateOptions, "poolPath" | "documents">): string {
  if (options.documents) return `${options.documents.location} document pool`;
  return options.poolPath ?? "the pool";
}

export function createTotpGate(options: TotpGateOptions): TotpGate {
  const { config } = parseOptions(totpGateOptionsSchema, options, "TOTP gate options");
  const clock = options.clock ?? Date.now;
  const source = options.secretSource ?? resolveTotpSecretSource(config, options.home);
  const store: AuthStore = createAuthStore({
    home: options.home,
    ...(options.statePath === undefined ? {} : { statePath: options.statePath }),
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    ...(options.staleMs === undefined ? {} : { staleMs: options.staleMs }),
    ...(options.documents === undefined ? {} : { documents: options.documents }),
  });
  const limits: AttemptLimits = attemptLimitsFrom(config);
  const sessions = createSessionStore({
    idleMs: config.sessionMinutes * 60_000,
    challengeMs: config.challengeSeconds * 1000,
    clock,
  });
  const audit = createAuditThrottle({ sink: options.audit, windowMs: config.auditThrottleSeconds * 1000, clock });
  const secretLabel =
    source.kind === "file"
      ? { kind: "file" as const, path: source.path }
      : { kind: "command" as const, command: describeCommand(source.argv) };

  function record(
    type: AuditEvent["type"],
    principal: string,
    extra: Omit<AuditEvent, "type" | "at" | "principal"> = {},
  ): void {
    audit.record({ type, at: new Date(clock()).toISOString(), principal: maskPrincipal(principal), ...extra });
  }

  function recordNotices(principal: string, notices: readonly AttemptNotice[]): void {
    for (const notice of notices) {
      if (notice.type === "lockout.start") {
        record("totp.lockout.start", principal, {
          reason: notice.reason,
          failures: notice.failures,
          until: new Date(notice.until).toISOString(),
        });
      } else {
        record("totp.lockout.end", principal, { reason: notice.reason });
      }
    }
  }

  function brokenError(message: string, reason: string): PoolError {
    return new PoolError("E_TOTP_STATE", `${message} Access is denied until this is fixed.`, {
      details: { reason, statePath: store.path },
    });
  }

  /** Decides the state from what is on disk. `secret` is undefined when a command secret was not run. */
  function classify(
    doc: AuthStateDocument | null,
    secret: SecretReadResult | undefined,
  ): Omit<TotpInspection, "secretSource" | "statePath"> {
    const marker = doc?.totp;
    const base = {
      ...(marker ? { configuredAt: marker.configuredAt, ...(marker.label ? { label: marker.label } : {}) } : {}),
      ...(doc?.setup ? { pendingSince: doc.setup.startedAt } : {}),
    };
    const recorded = options.poolGate;
    if (recorded) {
      const pool = poolWhere(options);
      const since = new Date(recorded.since).toISOString();
      const startOver = `Only someone who can run \`credpool totp reset --force\` at a terminal can start over (then \`credpool totp setup\`).`;
      if (!marker) {
        return {
          ...base,
          state: "broken",
          problem: brokenError(
            `${pool} records a TOTP gate set up on ${since} whose state ${store.path} is ${doc === null ? "missing" : "not a confirmed setup"}, so past failures and lockouts are unknown. ${startOver}`,
            "state-missing",
          ),
        };
      }
      if (marker.gateId !== recorded.gateId) {
        return {
          ...base,
          state: "broken",
          problem: brokenError(
            `${store.path} belongs to a different TOTP gate from the one ${pool} records (set up on ${since}). ${startOver}`,
            "gate-mismatch",
          ),
        };
      }
      if ((doc?.spentGuesses ?? 0) < recorded.spentGuesses) {
        return {
          ...base,
          state: "broken",
          problem: brokenError(
            `${store.path} counts ${doc?.spentGuesses ?? 0} wrong codes but ${pool} has seen ${recorded.spentGuesses}: it is an older copy, and using it would hand back spent guesses. ${startOver}`,
            "state-rolled-back",
          ),
        };
      }
    }
    if (source.kind === "file") {
      if (secret?.status !== "ok") {
        if (marker) {
          return {
            ...base,
            state: "broken",
            problem: brokenError(
              `TOTP was set up on ${new Date(marker.configuredAt).toISOString()} but its secret file ${source.path} is missing.`,
              "secret-missing",
            ),
          };
        }
        return { ...base, state: doc?.setup ? "setup-pending" : "not-configured" };
      }
      if (doc === null) {
        return {
          ...base,
          state: "broken",
          problem: brokenError(
            store.shared
              ? `The TOTP secret ${source.path} exists but its state ${store.path} is missing, so past failures and lockouts are unknown. \`credpool totp reset --force\` at a terminal starts over.`
              : `The TOTP secret ${source.path} exists but its state file ${store.path} is missing, so past failures and lockouts are unknown. Restore the file if you have it (cp ${store.backupPath} ${store.path}), or confirm the secret again with \`credpool totp setup --confirm CODE\`.`,
            "state-missing",
          ),
        };
      }
    } else if (!marker) {
      return {
        ...base,
        state: "broken",
        problem: brokenError(
          `totp.secretCommand is set but setup was never confirmed in ${store.path}. Run \`credpool totp setup\` and then \`credpool totp setup --confirm CODE\`.`,
          "not-confirmed",
        ),
      };
    }
    if (!marker) {
      return {
        ...base,
        state: "broken",
        problem: brokenError(
          `The TOTP secret ${source.kind === "file" ? source.path : "from the secret command"} has not been confirmed with a code. Run \`credpool totp setup --confirm CODE\` with the code your authenticator shows.`,
          "not-confirmed",
        ),
      };
    }
    if (secret?.status === "ok" && fingerprintSecret(secret.secret) !== marker.secretFingerprint) {
      return {
        ...base,
        state: "broken",
        problem: brokenError(
          `The TOTP secret ${source.kind === "file" ? `in ${source.path}` : "from the secret command"} is not the one confirmed at setup (its fingerprint differs from ${store.path}). Put the original secret back, or run \`credpool totp reset --force\` and set up again.`,
          "secret-mismatch",
        ),
      };
    }
    return { ...base, state: "configured" };
  }

  async function inspectWith(
    probeSecret: boolean,
  ): Promise<{ inspection: TotpInspection; doc: AuthStateDocument | null; secret?: string }> {
    const where = { secretSource: secretLabel, statePath: store.path };
    let doc: AuthStateDocument | null;
    let secret: SecretReadResult | undefined;
    try {
      doc = await store.read();
      if (source.kind === "file" || probeSecret) secret = await readTotpSecret(source);
    } catch (error) {
      if (error instanceof PoolError && error.code === "E_TOTP_STATE") {
        return { inspection: { ...where, state: "broken", problem: error }, doc: null };
      }
      throw error;
    }
    const inspection = { ...where, ...classify(doc, secret) };
    return { inspection, doc, ...(secret?.status === "ok" ? { secret: secret.secret } : {}) };
  }

  function notConfiguredError(): PoolError {
    return new PoolError(
      "E_TOTP_NOT_CONFIGURED",
      `TOTP is not configured for ${options.home}; run \`credpool totp setup\` to set it up.`,
    );
  }

  /**
   * After a wrong code: the pool's record keeps up with auth-state.json, so an older copy of the state is refused.
   * The state is written first; a crash in between leaves the record behind, which refuses nothing good.
   */
  async function raisePoolSpentGuesses(): Promise<void> {
    const recorded = options.poolGate;
    if (!recorded || (options.poolPath === undefined && options.documents === undefined)) return;
    const spent = (await store.read())?.spentGuesses ?? 0;
    await updatePoolGate(
      options.poolPath ?? "",
      (current) =>
        current && current.gateId === recorded.gateId
          ? { ...current, spentGuesses: Math.max(current.spentGuesses, spent) }
          : current,
      {
        ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
        documents: options.documents,
      },
    );
  }

  /** `about` names what was being authorised, so each audit line says what the code was for. */
  type About = { readonly action?: string };

  function mapVerdict(principal: string, verdict: AttemptVerdict, now: number, about: About): VerifyResult {
    if (verdict.kind === "ok") {
      const session = sessions.start(principal);
      record("totp.verify.ok", principal, about);
      return { principal, step: verdict.step, session };
    }
    if (verdict.kind === "invalid" || (verdict.kind === "locked" && verdict.started && verdict.reason === "lockout")) {
      record("totp.verify.fail", principal, { ...about, failures: verdict.failures });
    } else if (verdict.kind === "replay") {
      record("totp.verify.replay", principal, about);
    } else if (!verdict.started) {
      record("auth.denied", principal, {
        ...about,
        reason: verdict.reason === "lockout" ? "locked-out" : "burst-limit",
      });
    }
    throw createVerdictError(verdict, now, config);
  }

  async function verify(principal: string, code: string, about: About = {}): Promise<VerifyResult> {
    const now = clock();
    if (!isWellFormedCode(code)) {
      record("totp.verify.malformed", principal, about);
      throw createMalformedError(code);
    }
    const doc = await store.read();
    // A locked-out principal is refused before the secret is even read: no sudo call, no timing signal.
    const early = doc ? findActiveBlock(doc, principal, now) : undefined;
    if (early) {
      record("auth.denied", principal, { ...about, reason: early.reason === "lockout" ? "locked-out" : "burst-limit" });
      throw createLockedError(early, now, config.burstWindowSeconds);
    }
    const secretResult = await readTotpSecret(source);
    const status = classify(doc, secretResult);
    if (status.state === "not-configured" || status.state === "setup-pending") throw notConfiguredError();
    if (status.state === "broken" || secretResult.status !== "ok" || !doc?.totp) {
      record("auth.denied", principal, { ...about, reason: "broken-state" });
      throw status.problem ?? brokenError("TOTP state is inconsistent.", "inconsistent");
    }
    const fingerprint = doc.totp.secretFingerprint;
    const step = findTotpStep({ secret: secretResult.secret, algorithm: doc.totp.algorithm, timestamp: now, code });
    let outcome: { verdict: AttemptVerdict; notices: AttemptNotice[] } | undefined;
    await store.update((draft) => {
      // Re-checked on fresh state: a reset or a new secret between our read and the lock must not be overwritten.
      if (draft.totp?.secretFingerprint !== fingerprint) {
        throw brokenError(
          `TOTP was reset or its secret changed while this code was being checked (${store.path}).`,
          "changed-during-check",
        );
      }
      outcome = applyAttempt(draft, { principal, now, step, limits });
    });
    if (!outcome) throw brokenError("The attempt could not be recorded.", "not-recorded");
    recordNotices(principal, outcome.notices);
    if (step === null) await raisePoolSpentGuesses();
    return mapVerdict(principal, outcome.verdict, now, about);
  }

  return {
    home: options.home,
    statePath: store.path,
    config,
    async inspect(inspectOptions = {}) {
      return (await inspectWith(inspectOptions.probeSecret === true)).inspection;
    },
    async status(principal, statusOptions = {}) {
      const now = clock();
      const { inspection, doc } = await inspectWith(statusOptions.probeSecret === true);
      const entry = doc?.principals[principal];
      const block = doc ? findActiveBlock(doc, principal, now) : undefined;
      const session = sessions.get(principal);
      const challenge = sessions.getChallenge(principal);
      return {
        ...inspection,
        principal,
        failures: entry && !(entry.lockedUntil !== undefined && entry.lockedUntil <= now) ? entry.failures : 0,
        lockoutAttempts: config.lockoutAttempts,
        ...(block ? { block: { reason: block.reason, until: block.until, remainingMs: block.until - now } } : {}),
        ...(session ? { session } : {}),
        ...(challenge ? { challenge } : {}),
      };
    },
    verify,
    async authorize(principal, request) {
      const { inspection } = await inspectWith(false);
      if (inspection.state === "not-configured" || inspection.state === "setup-pending")
        return { method: "not-configured" };
      if (inspection.state === "broken") {
        record("auth.denied", principal, { action: request.action, reason: "broken-state" });
        throw inspection.problem ?? brokenError("TOTP state is broken.", "broken");
      }
      if (sessions.touch(principal)) return { method: "session" };
      if (request.code === undefined) {
        const challenge = sessions.openChallenge(principal);
        record("auth.denied", principal, { action: request.action, reason: "code-required" });
        throw new PoolError(
          "E_TOTP_REQUIRED",
          `${request.action} needs a TOTP code: TOTP is configured and there is no session.`,
          {
            details: { challengeExpiresAt: challenge.expiresAt },
          },
        );
      }
      await verify(principal, request.code, { action: request.action });
      return { method: "code" };
    },
    challenge: (principal) => sessions.openChallenge(principal),
    async answerChallenge(principal, input) {
      if (!sessions.getChallenge(principal)) {
        const challenge = sessions.openChallenge(principal);
        record("auth.denied", principal, { reason: "no-open-challenge" });
        throw new PoolError(
          "E_TOTP_REQUIRED",
          `No code was asked for, or the ${config.challengeSeconds}s to answer ran out; a new prompt is open, so send the current code.`,
          { details: { challengeExpiresAt: challenge.expiresAt } },
        );
      }
      return verify(principal, input);
    },
    sessions: {
      get: (principal) => sessions.get(principal),
      touch: (principal) => sessions.touch(principal),
      end: (principal) => sessions.end(principal),
      list: () => sessions.list(),
    },
    hasAuthenticatedSinceStart: () => sessions.firstAuthenticatedAt !== undefined,
    async close() {
      audit.flush();
      await store.close();
    },
  };
}
