// Turns a failed request into a credential status: how long to bench it, and whether it is dead for good.
import { z } from "zod";
import type { CredentialStatus } from "../store/schema.js";
import { parseResetInfo, type HeaderBag } from "./reset-info.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const healthConfigSchema = z.strictObject({
  unauthorizedMs: z.number().int().positive().default(5 * MINUTE),
  billingMs: z.number().int().positive().default(24 * HOUR),
  rateLimitBaseMs: z.number().int().positive().default(MINUTE),
  rateLimitMaxMs: z.number().int().positive().default(60 * MINUTE),
  serverErrorMs: z.number().int().positive().default(MINUTE),
  soleCredentialMaxMs: z.number().int().positive().default(MINUTE),
  /** Provider-supplied reset times are capped at this. */
  maxCooldownMs: z.number().int().positive().default(24 * HOUR),
});
export type HealthConfig = z.output<typeof healthConfigSchema>;

/** Reasons after which retrying the same credential can never succeed until its tokens change. */
export const TERMINAL_REASONS = [
  "invalid_grant",
  "refresh_token_reused",
  "token_revoked",
  "token_invalidated",
  "unauthorized_client",
  "invalid_api_key",
] as const;

export interface FailureReport {
  /** HTTP status; 0 for a timeout or network failure. */
  readonly status: number;
  readonly headers?: HeaderBag;
  readonly message?: string;
  /** The model the request was for; a 429 naming a model benches only that model. */
  readonly model?: string;
  /** A machine-readable reason such as `invalid_grant`, when the caller has one. */
  readonly reason?: string;
}

export interface HealthContext {
  readonly now: number;
  /** The status currently recorded for this credential (or this model on it). */
  readonly current: CredentialStatus | undefined;
  /** No other credential of the provider is available right now. */
  readonly soleCredential: boolean;
  readonly config: HealthConfig;
}

const BILLING = /billing|insufficient[_ ]quota|credit balance|payment required|quota exceeded for billing|out of credits/i;

export function findTerminalReason(failure: FailureReport): string | undefined {
  const haystack = `${failure.reason ?? ""} ${failure.message ?? ""}`;
  return TERMINAL_REASONS.find((reason) => haystack.includes(reason));
}

export type FailureClass = "terminal" | "billing" | "unauthorized" | "rate_limit" | "server" | "request";

export function classifyFailure(failure: FailureReport): FailureClass {
  if (findTerminalReason(failure)) return "terminal";
  if (failure.status === 402 || BILLING.test(`${failure.reason ?? ""} ${failure.message ?? ""}`)) return "billing";
  if (failure.status === 401 || failure.status === 403) return "unauthorized";
  if (failure.status === 429) return "rate_limit";
  if (failure.status === 0 || failure.status === 408 || failure.status >= 500) return "server";
  return "request";
}

/** Strips anything that looks like a key or token before a provider message is stored or shown. */
export function scrubMessage(message: string | undefined): string | undefined {
  if (!message) return undefined;
  return message
    .replace(/\b(sk|rk|pk)-[A-Za-z0-9_-]{6,}/g, "[redacted]")
    .replace(/\beyJ[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]+){0,2}/g, "[redacted]")
    .replace(/\b[A-Za-z0-9_-]{32,}\b/g, "[redacted]")
    .slice(0, 300);
}

/**
 * The status a credential moves to after `failure`, or undefined when the failure says nothing about the
 * credential (a 400 is the request's fault).
 */
export function computeFailureStatus(failure: FailureReport, context: HealthContext): CredentialStatus | undefined {
  const { now, current, config } = context;
  const kind = classifyFailure(failure);
  const message = scrubMessage(failure.message);
  const base = {
    since: now,
    httpStatus: failure.status,
    ...(message ? { message } : {}),
    ...(failure.model ? { model: failure.model } : {}),
  };
  if (kind === "request") return undefined;
  if (kind === "terminal") {
    return { state: "dead", ...base, reason: findTerminalReason(failure) ?? "terminal" };
  }

  const windowOpen = current?.state === "exhausted" && (current.until ?? 0) > now;
  const sameClass = current?.reason === kind;
  // A failure inside an already-open window (other requests that were in flight) must not escalate again.
  if (windowOpen && sameClass) return current;

  const strikes = kind === "rate_limit" ? (sameClass ? (current?.strikes ?? 0) + 1 : 1) : 1;
  const reset = parseResetInfo(failure.headers, failure.message, now);
  let durationMs: number;
  if (reset !== undefined) {
    durationMs = Math.min(reset, config.maxCooldownMs);
  } else {
    switch (kind) {
      case "billing":
        durationMs = config.billingMs;
        break;
      case "unauthorized":
        durationMs = config.unauthorizedMs;
        break;
      case "rate_limit":
        durationMs = Math.min(config.rateLimitBaseMs * 2 ** (strikes - 1), config.rateLimitMaxMs);
        break;
      default:
        durationMs = config.serverErrorMs;
    }
    // With nothing else to fall back on, a long bench only hurts; billing is the exception (it will not fix itself).
    if (context.soleCredential && kind !== "billing") durationMs = Math.min(durationMs, config.soleCredentialMaxMs);
  }
  const until = now + Math.round(durationMs);
  // Nor may a lesser failure shorten it: a 5xx from a request that was in flight when a 402 benched the credential
  // for 24 h would otherwise cut that bench to 60 s. See test/pool/health.test.ts ("does not shorten").
  if (windowOpen && until <= (current.until ?? 0)) return current;
  return { state: "exhausted", ...base, reason: kind, until, strikes };
}
