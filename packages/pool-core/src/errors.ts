// The one error type every credpool layer throws; callers branch on `code`, never on message text.
import { z } from "zod";

export const POOL_ERROR_CODES = [
  "E_USAGE",
  "E_INVALID_OPTIONS",
  "E_INVALID_INPUT",
  "E_NOT_FOUND",
  "E_AMBIGUOUS",
  "E_CONFLICT",
  "E_POOL_NOT_FOUND",
  "E_POOL_CORRUPT",
  "E_POOL_INVALID",
  "E_POOL_IO",
  "E_LOCK_TIMEOUT",
  "E_LOCK_COMPROMISED",
  "E_NO_CREDENTIAL",
  "E_REFRESH_FAILED",
  "E_SOURCE",
  "E_TOTP_REQUIRED",
  "E_TOTP_INVALID",
  "E_TOTP_REPLAY",
  "E_TOTP_LOCKED",
  "E_TOTP_MALFORMED",
  "E_TOTP_STATE",
  "E_TOTP_NOT_CONFIGURED",
  "E_CLOSED",
  "E_UNAUTHORIZED",
  "E_FORBIDDEN",
  /** The pool's settings.secrets.release is "never": no key leaves credpool through a lease. */
  "E_SECRETS_NEVER_RELEASED",
  "E_RATE_LIMITED",
  "E_TOO_LARGE",
  "E_METHOD_NOT_ALLOWED",
  /** A login was refused, denied, expired, cancelled or answered with the wrong state. */
  "E_LOGIN_FAILED",
  /** A database store could not be reached (refused, unresolvable, authentication failed). Nothing was written. */
  "E_STORE_UNAVAILABLE",
  /** The database connection dropped mid-operation; the transaction was rolled back by the server or never sent. */
  "E_STORE_CONNECTION_LOST",
  /** A database statement ran past its statement timeout and was cancelled; nothing was written. */
  "E_STORE_TIMEOUT",
  /** The database refused the transaction as a serialization failure or deadlock, after retries; nothing was written. */
  "E_STORE_CONFLICT",
] as const;

export type PoolErrorCode = (typeof POOL_ERROR_CODES)[number];

export interface PoolErrorOptions {
  cause?: unknown;
  /** Milliseconds until retrying can succeed, when the error knows it. */
  retryAfterMs?: number;
  /** Structured facts for callers and logs; never secrets. */
  details?: Record<string, unknown>;
}

export class PoolError extends Error {
  override readonly name = "PoolError";
  readonly code: PoolErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: PoolErrorCode, message: string, options: PoolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

export function isPoolError(error: unknown, code?: PoolErrorCode): error is PoolError {
  // By shape as well as class: the bundled CLI has its own copy of this class, and errors thrown by a separately
  // installed package (@credpool/pool-postgres) come from the package's copy.
  const shaped =
    error instanceof PoolError ||
    (error instanceof Error &&
      error.name === "PoolError" &&
      (POOL_ERROR_CODES as readonly string[]).includes((error as { code?: unknown }).code as string));
  return shaped && (code === undefined || (error as PoolError).code === code);
}

/** Wraps a zod failure so the message names `where` and every failing field path. */
export function fromZodError(code: PoolErrorCode, where: string, error: z.ZodError): PoolError {
  return new PoolError(code, `${where}:\n${z.prettifyError(error)}`, { cause: error });
}

/** The errno code of a Node system error, if there is one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = error.code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** An I/O failure on `path`, keeping the errno code where callers and tests can see it. */
export function ioError(action: string, path: string, error: unknown): PoolError {
  const code = errnoCode(error);
  return new PoolError("E_POOL_IO", `Could not ${action} ${path}: ${code ?? (error as Error).message}`, {
    cause: error,
    details: { path, errno: code },
  });
}
