// Typed client for workers and delegate agents. Access is inherited through two environment variables alone.
import { PoolError, type PoolErrorCode } from "@credpool/pool-core";
import type { TokenLimits } from "./token-limits.js";
import type { TokenScope } from "./tokens.js";

export interface GatewayClientOptions {
  /** Defaults to $CREDPOOL_GATEWAY_URL, then http://127.0.0.1:7878. */
  url?: string;
  /** Defaults to $CREDPOOL_GATEWAY_TOKEN. */
  token?: string;
  timeoutMs?: number;
}

export interface LeaseGrant {
  readonly leaseId: string;
  readonly credentialId: string;
  readonly label: string;
  readonly provider: string;
  readonly baseUrl: string | null;
  readonly token: string;
  readonly tokenType: "api_key" | "bearer";
  readonly expiresAt: number | null;
  readonly leaseExpiresAt: number;
}

export type ReleaseOutcome =
  | { outcome: "ok" }
  | { outcome: "error"; status: number; headers?: Record<string, string>; message?: string; model?: string };

/** A child token to mint with the client's own token (which needs scope delegate or admin). */
export interface CreateTokenRequest {
  name: string;
  /** proxy (default), or delegate when the child may mint tokens of its own. */
  scope?: "proxy" | "delegate";
  /** A duration (`30m`, `2s`); default 1 h, never past the parent's own expiry. Or `ttlMs`. */
  ttl?: string;
  ttlMs?: number;
  providers?: string[];
  /** Exact names or globs such as `claude-sonnet-*`. */
  models?: string[];
  maxConcurrent?: number;
  rpm?: number;
  maxWaitMs?: number;
}

export interface MintedToken {
  readonly id: string;
  readonly name: string;
  readonly scope: TokenScope;
  /** The bearer token itself; shown only in this answer. */
  readonly token: string;
  readonly parentId: string;
  readonly expiresAt: number;
  /** What the child may do: what it asked for, and the parent's limits where it asked for nothing. */
  readonly limits: TokenLimits;
}

export interface GatewayClient {
  /**
   * Mints a child token for a delegate agent (POST /v1/tokens). Its limits are no wider than this client's token;
   * asking for more fails with E_FORBIDDEN naming the field. It ends when it expires or its parent does.
   */
  createToken(request: CreateTokenRequest): Promise<MintedToken>;
  lease(provider: string, options?: { model?: string; ttlMs?: number; idempotencyKey?: string }): Promise<LeaseGrant>;
  renew(leaseId: string, ttlMs?: number): Promise<{ leaseId: string; leaseExpiresAt: number }>;
  release(leaseId: string, outcome?: ReleaseOutcome): Promise<void>;
  /**
   * Runs `fn` with a lease and always releases it. The outcome comes from what `fn` produced: a Response-like
   * value's status, or a thrown error's `status`/`statusCode` (a throw without one counts as a failed request).
   */
  withLease<T>(provider: string, fn: (lease: LeaseGrant) => Promise<T>, options?: { model?: string }): Promise<T>;
}

interface ErrorBody {
  error?: { code?: string; message?: string; retryAfterMs?: number };
}

function statusOf(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as { status?: unknown; statusCode?: unknown };
  const status = typeof record.status === "number" ? record.status : record.statusCode;
  return typeof status === "number" ? status : undefined;
}

function headersOf(value: unknown): Record<string, string> | undefined {
  const headers = (value as { headers?: unknown } | null)?.headers;
  if (typeof headers !== "object" || headers === null) return undefined;
  const out: Record<string, string> = {};
  const keep = (key: string, headerValue: unknown): void => {
    if (/retry|reset|ratelimit/i.test(key) && typeof headerValue === "string") out[key.toLowerCase()] = headerValue;
  };
  if (typeof (headers as Headers).forEach === "function" && typeof (headers as Headers).get === "function") {
    (headers as Headers).forEach((headerValue, key) => keep(key, headerValue));
  } else {
    // A plain record, as SDK errors and hand-made Response-likes carry (`{ "retry-after": "30" }`).
    for (const [key, headerValue] of Object.entries(headers))
      keep(key, Array.isArray(headerValue) ? headerValue[0] : headerValue);
  }
  return out;
}

export function createGatewayClient(options: GatewayClientOptions = {}): GatewayClient {
  const base = (options.url ?? process.env.CREDPOOL_GATEWAY_URL ?? "http://127.0.0.1:7878").replace(/\/$/, "");
  const token = options.token ?? process.env.CREDPOOL_GATEWAY_TOKEN;
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function call<T>(path: string, body: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    if (!token) {
      throw new PoolError("E_UNAUTHORIZED", "No gateway token: set CREDPOOL_GATEWAY_TOKEN or pass { token }.");
    }
    const response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...extraHeaders },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      parsed = {};
    }
    if (!response.ok) {
      const error = (parsed as ErrorBody).error;
      throw new PoolError(
        (error?.code ?? "E_POOL_IO") as PoolErrorCode,
        error?.message ?? `Gateway answered HTTP ${response.status}.`,
        error?.retryAfterMs === undefined
          ? { details: { status: response.status } }
          : { retryAfterMs: error.retryAfterMs, details: { status: response.status } },
      );
    }
    return parsed as T;
  }

  const client: GatewayClient = {
    createToken: (request) => call<MintedToken>("/v1/tokens", request),
    lease: (provider, leaseOptions = {}) => {
      const { idempotencyKey, ...rest } = leaseOptions;
      return call<LeaseGrant>(
        "/v1/leases",
        { provider, ...rest },
        idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
      );
    },
    renew: (leaseId, ttlMs) =>
      call(`/v1/leases/${encodeURIComponent(leaseId)}/renew`, ttlMs === undefined ? {} : { ttlMs }),
    release: async (leaseId, outcome = { outcome: "ok" }) => {
      await call(`/v1/leases/${encodeURIComponent(leaseId)}/release`, outcome);
    },
    async withLease(provider, fn, leaseOptions = {}) {
      const lease = await client.lease(provider, leaseOptions);
      let outcome: ReleaseOutcome = { outcome: "ok" };
      try {
        const result = await fn(lease);
        const status = statusOf(result);
        if (status !== undefined && status >= 400) {
          const headers = headersOf(result);
          outcome = {
            outcome: "error",
            status,
            ...(headers ? { headers } : {}),
            ...(leaseOptions.model ? { model: leaseOptions.model } : {}),
          };
        }
        return result;
      } catch (error) {
        const headers = headersOf(error);
        outcome = {
          outcome: "error",
          status: statusOf(error) ?? 0,
          message: error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500),
          ...(headers ? { headers } : {}),
          ...(leaseOptions.model ? { model: leaseOptions.model } : {}),
        };
        throw error;
      } finally {
        await client.release(lease.leaseId, outcome).catch(() => undefined);
      }
    },
  };
  return client;
}
