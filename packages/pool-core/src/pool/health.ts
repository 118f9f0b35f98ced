// Turns a failed request into a credential status: how long to bench it, and whether it is dead for good.
import { z } from "zod";
import type { CredentialStatus } from "../store/schema.js";
import { parseResetInfo, type HeaderBag } from "./reset-info.js";
import { sanitizeLabelText, sanitizeMessage } from "./sanitize.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const healthConfigSchema = z.strictObject({
  unauthorizedMs: z
    .number()
    .int()
    .positive()
    .default(5 * MINUTE),
  billingMs: z
    .number()
    .int()
    .positive()
    .default(24 * HOUR),
  rateLimitBaseMs: z.number().int().positive().default(MINUTE),
  rateLimitMaxMs: z
    .number()
    .int()
    .positive()
    .default(60 * MINUTE),
  serverErrorMs: z.number().int().positive().default(MINUTE),
  soleCredentialMaxMs: z.number().int().positive().default(MINUTE),
  /** Provider-supplied reset times are capped at this. */
  maxCooldownMs: z
    .number()
    .int()
    .positive()
    .default(24 * HOUR),
});
export type HealthConfig = z.output<typeof healthConfigSchema>;

/**
 * Reasons after which retrying the same credential can never succeed until its tokens change.
 * `invalid_grant` is terminal even on an HTTP 400: that is the status RFC 6749 §5.2 gives it, so the status alone
 * cannot tell it from a malformed request. `invalid_token` is deliberately absent: on a 401 it means the access
 * token expired or was rotated elsewhere, which a refresh fixes; only a failed refresh makes the credential dead.
 */
export const TERMINAL_REASONS = [
  "invalid_grant",
  "refresh_token_reused",
  "token_revoked",
  "token_invalidated",
  "unauthorized_client",
  "invalid_api_key",
  "invalid_refresh_token",
  "refresh_token_expired",
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
  /** The credential's secrets: a message that repeats one is stored with it replaced. */
  readonly secrets?: readonly string[];
}

const BILLING =
  /billing|insufficient[_ ]quota|credit balance|payment required|quota exceeded for billing|out of credits/i;
/**
 * Softer billing words that providers send with 400, 404 or 429 instead of 402: OpenRouter's "Insufficient
 * credits", Nous Portal's 404 "not available on the Free Tier" / "requires available credits", Groq's "Monthly quota
 * reached". They lose to an explicit rate-limit phrase: OpenRouter's "Rate limit exceeded: free-models-per-day. Add
 * 10 credits ..." is a daily throttle with a reset, not an empty account.
 */
const SOFT_BILLING = /\bcredits\b|free tier|monthly quota/i;
const RATE_LIMIT_PHRASE = /rate[ _-]?limit|too many requests|request rate increased too quickly/i;
/** A rate limit sent as 400 must say so plainly ("rate limit exceeded on this model"), not merely mention limits. */
const RATE_LIMIT_400 = /rate[ _-]?limit(?:ed|[ _]exceeded)|too many requests|request rate increased too quickly/i;
/** Z.AI and others reuse 429 for a server-wide overload: the key is fine. */
const OVERLOADED = /temporarily overloaded|overloaded_error|server is overloaded|service is overloaded/i;
/** Anthropic's 429 for a long-context request on a plan without extra usage: the request's fault, not the key's. */
const REQUEST_SIDE_429 = /extra usage is required for long context/i;
/** OpenRouter relaying a limit of the upstream provider behind one model, not of the OpenRouter key. */
const UPSTREAM_PROVIDER = /provider returned error|rate-limited upstream/i;

export function findTerminalReason(failure: FailureReport): string | undefined {
  const haystack = `${failure.reason ?? ""} ${failure.message ?? ""}`;
  return TERMINAL_REASONS.find((reason) => haystack.includes(reason));
}

/**
 * `overloaded`: the provider is busy, not this credential; no bench and no strike. A 529 stays `server` (a short
 * bench, as the health rules of issue 3 pin), only a 429 that says "overloaded" is read this way.
 */
export type FailureClass = "terminal" | "billing" | "unauthorized" | "rate_limit" | "overloaded" | "server" | "request";

/**
 * What a failure says about the credential. The status code is only the first hint: providers send billing as 400,
 * 404 or 429, overload and request errors as 429, and rate limits as 400. See test/pool/health.test.ts
 * ("classification beyond the status code").
 */
export function classifyFailure(failure: FailureReport): FailureClass {
  if (findTerminalReason(failure)) return "terminal";
  const text = `${failure.reason ?? ""} ${failure.message ?? ""}`;
  const { status } = failure;
  if (status === 429 && REQUEST_SIDE_429.test(text)) return "request";
  if (status === 402 || BILLING.test(text)) return "billing";
  // The relayed upstream limit is a rate limit of one model (the pool benches only that model when it is named).
  if (status === 429 && UPSTREAM_PROVIDER.test(text)) return "rate_limit";
  if (status === 429 && OVERLOADED.test(text)) return "overloaded";
  const softBilling = SOFT_BILLING.test(text) && !RATE_LIMIT_PHRASE.test(text);
  if ((status === 400 || status === 404 || status === 429) && softBilling) return "billing";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 429) return "rate_limit";
  if (status === 400 && RATE_LIMIT_400.test(text)) return "rate_limit";
  if (status === 0 || status === 408 || status >= 500) return "server";
  return "request";
}

/**
 * The status a credential moves to after `failure`, or undefined when the failure says nothing about the
 * credential (a 400 is the request's fault).
 */
export function computeFailureStatus(failure: FailureReport, context: HealthContext): CredentialStatus | undefined {
  const { now, current, config } = context;
  const kind = classifyFailure(failure);
  const message = sanitizeMessage(failure.message, context.secrets);
  const model = failure.model === undefined ? undefined : sanitizeLabelText(failure.model);
  const base = {
    since: now,
    httpStatus: failure.status,
    ...(message ? { message } : {}),
    ...(model ? { model } : {}),
  };
  if (kind === "request" || kind === "overloaded") return undefined;
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
