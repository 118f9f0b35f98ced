// The one table from PoolError codes to HTTP statuses, and the JSON error body every failure uses.
import { isPoolError, type PoolErrorCode } from "@credpool/pool-core";
import type { GatewayResponse } from "./types.js";

/** Codes only the gateway answers with: HTTP-level refusals that no pool operation raises. */
export type GatewayErrorCode = "E_INTERNAL" | "E_IDEMPOTENCY_MISMATCH" | "E_TOO_MANY_CONNECTIONS";

const HTTP_STATUS: Record<PoolErrorCode | GatewayErrorCode, number> = {
  E_INTERNAL: 500,
  E_IDEMPOTENCY_MISMATCH: 422,
  E_TOO_MANY_CONNECTIONS: 503,
  E_USAGE: 400,
  E_INVALID_OPTIONS: 400,
  E_INVALID_INPUT: 400,
  E_TOTP_MALFORMED: 400,
  E_UNAUTHORIZED: 401,
  E_TOTP_REQUIRED: 401,
  E_TOTP_INVALID: 401,
  E_TOTP_REPLAY: 401,
  E_FORBIDDEN: 403,
  E_SECRETS_NEVER_RELEASED: 403,
  E_NOT_FOUND: 404,
  E_METHOD_NOT_ALLOWED: 405,
  E_AMBIGUOUS: 409,
  E_CONFLICT: 409,
  E_TOTP_NOT_CONFIGURED: 409,
  E_TOO_LARGE: 413,
  E_POOL_INVALID: 422,
  E_TOTP_LOCKED: 423,
  E_RATE_LIMITED: 429,
  E_REFRESH_FAILED: 502,
  E_SOURCE: 502,
  E_LOGIN_FAILED: 400,
  E_NO_CREDENTIAL: 503,
  E_POOL_NOT_FOUND: 503,
  E_POOL_CORRUPT: 503,
  E_POOL_IO: 503,
  E_LOCK_TIMEOUT: 503,
  E_LOCK_COMPROMISED: 503,
  E_TOTP_STATE: 503,
  E_CLOSED: 503,
  E_STORE_UNAVAILABLE: 503,
  E_STORE_CONNECTION_LOST: 503,
  E_STORE_TIMEOUT: 503,
  E_STORE_CONFLICT: 503,
};

export function httpStatusFor(code: PoolErrorCode | GatewayErrorCode): number {
  return HTTP_STATUS[code];
}

export function jsonResponse(status: number, value: unknown, headers?: Record<string, string>): GatewayResponse {
  const body = JSON.stringify(value);
  // Every response gets its own headers object: later steps add to it (request id, content length).
  return {
    status,
    headers: headers ? { "content-type": "application/json", ...headers } : { "content-type": "application/json" },
    body,
  };
}

export function errorResponse(
  code: PoolErrorCode | GatewayErrorCode,
  message: string,
  retryAfterMs?: number,
): GatewayResponse {
  const status = httpStatusFor(code);
  const headers: Record<string, string> =
    retryAfterMs === undefined ? {} : { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) };
  return jsonResponse(
    status,
    { error: { code, message, ...(retryAfterMs === undefined ? {} : { retryAfterMs: Math.ceil(retryAfterMs) }) } },
    headers,
  );
}

/** Any thrown value as a JSON error; unknown errors become a 500 without their (possibly secret) message. */
export function responseForError(error: unknown): GatewayResponse {
  if (isPoolError(error)) {
    // Clients back off on E_NO_CREDENTIAL by Retry-After; when no credential will recover by itself, ask for a minute.
    const retryAfterMs = error.retryAfterMs ?? (error.code === "E_NO_CREDENTIAL" ? 60_000 : undefined);
    return errorResponse(error.code, error.message, retryAfterMs);
  }
  return errorResponse("E_INTERNAL", "Internal error; see the gateway log.");
}
