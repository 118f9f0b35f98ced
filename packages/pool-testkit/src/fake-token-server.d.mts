// Types for fake-token-server.mjs (kept in JavaScript so benches can run it without a TypeScript step).

export interface FakeTokenServerOptions {
  /** Delay before each token call is processed. */
  latencyMs?: number;
  /** Lifetime of issued access tokens (default 3600). */
  expiresInSec?: number;
  /** When set, any other client_id gets 401 invalid_client. */
  clientId?: string;
}

/** What the server does with the next call; queued with `script()` and used once each. */
export type FakeTokenBehavior =
  | { type: "ok" }
  /** Answer with this status without touching any token (429, 5xx, 400 invalid_client ...). */
  | { type: "status"; status: number; headers?: Record<string, string>; body?: unknown }
  /**
   * Answer `status` with an error body that repeats the refresh token it was sent: JSON
   * `{error, error_description}` (error defaults to invalid_request) or, with format "text", plain text.
   */
  | { type: "echo-refresh-token"; status: number; error?: string; format?: "json" | "text" }
  /** Close the connection before processing: the token is not spent. */
  | { type: "drop" }
  /** Rotate, then answer only after `delayMs` (a client timeout shorter than that never sees the new pair). */
  | { type: "rotate-then-delay"; delayMs?: number }
  /** Rotate, then hold the answer until `releaseHeld()`. */
  | { type: "rotate-then-hold" }
  /** Rotate, then close the connection without answering. */
  | { type: "rotate-then-drop" };

export interface FakeTokenCall {
  readonly at: number;
  readonly bodyStyle: "json" | "form";
  readonly grantType: unknown;
  readonly clientId: unknown;
  readonly scope: unknown;
  readonly refreshTokenFp: string | undefined;
  readonly family: string | undefined;
  /** The refresh token had already been used when this call arrived. */
  readonly reused: boolean;
  readonly outcome: string;
  readonly issuedAccessTokenFp?: string;
}

export interface IssuedTokens {
  readonly family: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly idToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

export interface FakeTokenServer {
  readonly url: string;
  /** POST here with grant_type=refresh_token (JSON or form body). */
  readonly tokenUrl: string;
  /** Every token call, in arrival order. */
  readonly calls: readonly FakeTokenCall[];
  /** Calls that sent a refresh token that had already been used. */
  readonly reuses: readonly FakeTokenCall[];
  /** Starts a new token family, as a login would. */
  issue(request?: { family?: string; accountId?: string; expiresInSec?: number }): IssuedTokens;
  /** The family's newest pair. */
  current(family: string): IssuedTokens & { revoked: boolean; generation: number };
  revoke(family: string): void;
  setLatency(ms: number): void;
  script(...behaviors: FakeTokenBehavior[]): void;
  waitForCalls(count: number, timeoutMs?: number): Promise<void>;
  releaseHeld(): void;
  heldCount(): number;
  /** Throws when any refresh token was sent twice. */
  assertNoReuse(): void;
  close(): Promise<void>;
}

export function startFakeTokenServer(options?: FakeTokenServerOptions): Promise<FakeTokenServer>;
