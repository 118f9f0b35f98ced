// Driver failures as PoolErrors: each kind of failure gets its own code, and every message names the server
// (host, port, database) but never the password.
import { PoolError, type PoolErrorCode } from "@credpool/pool-core";

/** `postgres://user@host:port/db`, with any password left out. */
export function describeServer(url: URL): string {
  const user = url.username === "" ? "" : `${decodeURIComponent(url.username)}@`;
  const port = url.port === "" ? "5432" : url.port;
  return `postgres://${user}${url.hostname}:${port}${url.pathname}`;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = error.code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

const UNREACHABLE_ERRNO = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
const DROPPED_ERRNO = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** Which store code a driver error maps to; `retryable` only where the transaction certainly did not commit. */
export function classify(error: unknown): { code: PoolErrorCode; what: string; retryable: boolean } {
  const code = codeOf(error) ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (UNREACHABLE_ERRNO.has(code))
    return { code: "E_STORE_UNAVAILABLE", what: "could not be reached", retryable: false };
  // 28xxx: authentication; 3D000: no such database; 57P03: the server is starting up or shutting down.
  if (code.startsWith("28") || code === "3D000" || code === "57P03") {
    return { code: "E_STORE_UNAVAILABLE", what: "refused the connection", retryable: false };
  }
  // TLS refused by either side: a server without TLS, a certificate that does not verify.
  if (
    code.startsWith("ERR_TLS") ||
    /CERT|SELF_SIGNED/.test(code) ||
    /does not support SSL connections|certificate|SSL routines/i.test(message)
  ) {
    return { code: "E_STORE_UNAVAILABLE", what: "could not set up TLS", retryable: false };
  }
  if (/timeout exceeded when trying to connect|connection timeout/i.test(message)) {
    return { code: "E_STORE_UNAVAILABLE", what: "did not answer in time", retryable: false };
  }
  if (code === "57014")
    return { code: "E_STORE_TIMEOUT", what: "cancelled a statement that ran too long", retryable: false };
  if (code === "40001" || code === "40P01") {
    return { code: "E_STORE_CONFLICT", what: "refused the transaction (serialization failure)", retryable: true };
  }
  // 08xxx: connection exceptions; 57P01/57P02: the backend was terminated or the server crashed.
  if (
    code.startsWith("08") ||
    code === "57P01" ||
    code === "57P02" ||
    code === "25P03" ||
    DROPPED_ERRNO.has(code) ||
    /Connection terminated|Client has encountered a connection error|not queryable/i.test(message)
  ) {
    return { code: "E_STORE_CONNECTION_LOST", what: "dropped the connection", retryable: false };
  }
  return { code: "E_POOL_IO", what: "failed", retryable: false };
}

/** A PoolError for `error` raised while doing `action` on `server`; `secret` (the password) is scrubbed if echoed. */
export function storeError(error: unknown, action: string, server: string, secret?: string): PoolError {
  if (error instanceof PoolError) return error;
  const { code, what } = classify(error);
  let detail = error instanceof Error ? error.message : String(error);
  if (secret) detail = detail.split(secret).join("***");
  const sqlState = codeOf(error);
  return new PoolError(code, `PostgreSQL at ${server} ${what} while trying to ${action}: ${detail}`, {
    cause: error,
    details: { server, ...(sqlState === undefined ? {} : { sqlState }) },
    ...(code === "E_POOL_IO" ? {} : { retryAfterMs: 1000 }),
  });
}
