// One POST to a token endpoint, classified by what it means for the refresh token that was sent.
import { parseResetInfo, redactValues, sanitizeMessage, TERMINAL_REASONS, type HeaderBag } from "../pool/index.js";
import type { CredentialSecrets } from "../store/schema.js";
import { buildRefreshBody, parseTokenGrant, type TokenEndpoint, type TokenGrant } from "./adapters.js";

/**
 * Reasons after which this refresh token can never work again (TERMINAL_REASONS already holds
 * `invalid_refresh_token` and `refresh_token_expired`, which a worker may report too).
 */
export const REFRESH_TERMINAL_REASONS: readonly string[] = [
  ...TERMINAL_REASONS,
  "refresh_token_invalidated",
  "refresh_token_revoked",
];

export type TokenCallResult =
  /** The provider rotated the pair; the sent refresh token is spent. */
  | { readonly kind: "granted"; readonly grant: TokenGrant }
  /** The provider refused this refresh token for good (invalid_grant, refresh_token_reused, ...). */
  | { readonly kind: "terminal"; readonly status: number; readonly reason: string; readonly message: string }
  /** The request was not processed (429, 5xx, or it never left this host): the token is unspent; wait and retry. */
  | {
      readonly kind: "retry_later";
      readonly status: number;
      readonly reason: "refresh_rate_limited" | "refresh_unavailable";
      readonly retryAfterMs: number | undefined;
      readonly message: string;
    }
  /** Refused for a reason that is not the token's (bad client id, malformed request): retrying now will not help. */
  | { readonly kind: "rejected"; readonly status: number; readonly message: string }
  /** Sent, but we cannot know whether the provider rotated the token (timeout, reset, unreadable 2xx). */
  | { readonly kind: "unknown"; readonly message: string };

/** Connection failures that prove the request never reached the provider. */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const MAX_ERROR_BODY = 4096;
/** What of an error body is stored: a reason code of this shape, and a message of at most this length. */
const REASON_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_STORED_MESSAGE = 200;

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function headersOf(response: Response): HeaderBag {
  const bag: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    bag[key] = value;
  });
  return bag;
}

/** Error codes and descriptions from both OAuth-style and OpenAI-style error bodies. */
function describeErrorBody(text: string): { codes: string[]; description: string | undefined } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { codes: [], description: text.trim() === "" ? undefined : text.slice(0, 300) };
  }
  const codes: string[] = [];
  let description: string | undefined;
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== "object") return;
    const record = value as Record<string, unknown>;
    for (const key of ["error", "code", "type", "error_code"]) {
      if (typeof record[key] === "string") codes.push(record[key]);
    }
    for (const key of ["error_description", "message", "detail"]) {
      if (description === undefined && typeof record[key] === "string") description = record[key];
    }
    if (typeof record.error === "object") visit(record.error);
  };
  visit(body);
  return { codes, description };
}

function terminalReasonOf(codes: readonly string[], description: string | undefined): string | undefined {
  for (const code of codes) {
    const exact = REFRESH_TERMINAL_REASONS.find((reason) => code === reason);
    if (exact) return exact;
  }
  const haystack = `${codes.join(" ")} ${description ?? ""}`;
  return REFRESH_TERMINAL_REASONS.find((reason) => haystack.includes(reason));
}

export interface TokenRequestOptions {
  readonly fetch: typeof globalThis.fetch;
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly previous: CredentialSecrets;
}

/** Sends exactly one refresh request. Never throws: every failure is a classified result. */
export async function postRefreshRequest(
  endpoint: TokenEndpoint,
  refreshToken: string,
  options: TokenRequestOptions,
): Promise<TokenCallResult> {
  const { contentType, body } = buildRefreshBody(endpoint, refreshToken);
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(endpoint.tokenUrl, {
      method: "POST",
      headers: { "content-type": contentType, accept: "application/json", "user-agent": "credpool" },
      body,
      signal,
      // A redirect would forward the refresh token somewhere we did not configure.
      redirect: "error",
    });
  } catch (error) {
    const code = causeCode(error);
    if (code !== undefined && NOT_SENT_CODES.has(code)) {
      return {
        kind: "retry_later",
        status: 0,
        reason: "refresh_unavailable",
        retryAfterMs: undefined,
        message: `could not reach ${new URL(endpoint.tokenUrl).host} (${code})`,
      };
    }
    if (signal.aborted) {
      return {
        kind: "unknown",
        message: `no answer from ${new URL(endpoint.tokenUrl).host} within ${options.timeoutMs} ms`,
      };
    }
    const causeMessage = ((error as Error).cause as Error | undefined)?.message ?? "";
    if (/redirect/i.test(causeMessage)) {
      return {
        kind: "rejected",
        status: 0,
        message: `${endpoint.tokenUrl} answered with a redirect; configure the final URL`,
      };
    }
    return {
      kind: "unknown",
      message: `the request failed after it may have been sent (${code ?? (error as Error).message})`,
    };
  }

  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    // The status line arrived, the body did not: a 2xx may carry tokens we never saw.
    if (response.ok)
      return { kind: "unknown", message: `the response body was lost (${causeCode(error) ?? "read failed"})` };
    text = "";
  }

  if (response.ok) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const grant = parseTokenGrant(endpoint, parsed, options.previous, options.now());
    if (!grant) return { kind: "unknown", message: `HTTP ${response.status} without an access token` };
    return { kind: "granted", grant };
  }

  // The body is the endpoint's, not ours: it may repeat the refresh token just sent (or any token it knows). Those
  // go by exact value before anything is cut, so no fragment survives; only a reason code and a short message are
  // kept. See packages/pool-cli/test/untrusted-text.test.ts.
  const sent = [refreshToken, options.previous.accessToken, options.previous.idToken, options.previous.refreshToken];
  const parsed = describeErrorBody(redactValues(text, sent).slice(0, MAX_ERROR_BODY));
  const codes = parsed.codes.filter((code) => REASON_CODE.test(code));
  const description = sanitizeMessage(parsed.description, sent)?.slice(0, MAX_STORED_MESSAGE);
  const detail = [codes[0], description].filter(Boolean).join(": ");
  const status = response.status;
  const summary = detail ? `HTTP ${status} ${detail}` : `HTTP ${status}`;
  if (status === 429 || status >= 500) {
    return {
      kind: "retry_later",
      status,
      reason: status === 429 ? "refresh_rate_limited" : "refresh_unavailable",
      retryAfterMs: parseResetInfo(headersOf(response), parsed.description, options.now()),
      message: summary,
    };
  }
  const reason = terminalReasonOf(codes, parsed.description);
  if (reason && (status === 400 || status === 401 || status === 403)) {
    return { kind: "terminal", status, reason, message: description ?? reason };
  }
  return { kind: "rejected", status, message: summary };
}
