// The gate's refusals, worded once: what happened and what the person can do next, never the code or the secret.
import { PoolError } from "../errors.js";
import type { AttemptVerdict } from "./auth-state.js";
import { TOTP_PERIOD_SECONDS, currentTotpStep, describeMalformedCode } from "./verifier.js";

/** `14m 32s`, `55s`: how long a person has to wait, rounded up. */
export function formatWait(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  if (minutes === 0) return `${seconds}s`;
  return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m ${seconds % 60}s`;
}

export interface BlockInfo {
  readonly reason: "lockout" | "burst";
  readonly until: number;
  readonly failures: number;
}

export function createLockedError(block: BlockInfo, now: number, burstWindowSeconds: number): PoolError {
  const remainingMs = Math.max(0, block.until - now);
  const until = new Date(block.until).toISOString();
  const message =
    block.reason === "lockout"
      ? `TOTP is locked after ${block.failures} wrong code${block.failures === 1 ? "" : "s"}: wait ${formatWait(remainingMs)} (until ${until}). Until then even a valid code is refused.`
      : `Too many TOTP attempts within ${burstWindowSeconds}s: wait ${formatWait(remainingMs)} (until ${until}) before the next one.`;
  return new PoolError("E_TOTP_LOCKED", message, {
    retryAfterMs: remainingMs,
    details: { reason: block.reason, until: block.until, failures: block.failures },
  });
}

export function createMalformedError(input: unknown): PoolError {
  return new PoolError(
    "E_TOTP_MALFORMED",
    `That is not a TOTP code: ${describeMalformedCode(input)}. Enter the 6 digits your authenticator shows; this did not count as an attempt.`,
  );
}

/** The error for every verdict but "ok". */
export function createVerdictError(
  verdict: Exclude<AttemptVerdict, { kind: "ok" }>,
  now: number,
  settings: { lockoutMinutes: number; burstWindowSeconds: number },
): PoolError {
  switch (verdict.kind) {
    case "invalid":
      return new PoolError(
        "E_TOTP_INVALID",
        `Wrong TOTP code. ${verdict.remaining} more wrong code${verdict.remaining === 1 ? "" : "s"} start${verdict.remaining === 1 ? "s" : ""} a ${settings.lockoutMinutes}-minute lockout.`,
        { details: { failures: verdict.failures, remaining: verdict.remaining } },
      );
    case "replay": {
      const nextStepAt = (currentTotpStep(now) + 1) * TOTP_PERIOD_SECONDS * 1000;
      return new PoolError(
        "E_TOTP_REPLAY",
        `That TOTP code was already used, and each code works once. Wait for the next one (${formatWait(nextStepAt - now)}).`,
        { retryAfterMs: nextStepAt - now, details: { step: verdict.step } },
      );
    }
    case "locked":
      return createLockedError(verdict, now, settings.burstWindowSeconds);
  }
}
