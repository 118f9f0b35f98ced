// Types for fake-token-server.mjs (kept in JavaScript so benches can run it without a TypeScript step).

export interface FakeTokenServerOptions {
  /** Delay before each token call is processed. */
  latencyMs?: number;
  /** Lifetime of issued access tokens (default 3600). */
  expiresInSec?: number;
  /** When set, any other client_id gets 401 invalid_client. */
  clientId?: string;
  /** Lifetime of authorization codes (default 60 s). */
  codeTtlMs?: number;
}

/** How the user at the fake authorize page answers the next authorization request. */
export interface FakeApproval {
  accountId?: string;
  email?: string;
  /** The user refuses: the redirect carries error=access_denied. */
  deny?: boolean;
  codeTtlMs?: number;
}

/** One poll answer of a device-code flow, in order; after the script the user approves. */
export type FakeDeviceStep = "pending" | "slow_down" | "approve" | "deny" | "expire";

export interface FakeDeviceSetup {
  script?: FakeDeviceStep[];
  /** Seconds; the server's `interval` (default 5). slow_down adds 5, as RFC 8628 says. */
  interval?: number;
  expiresInSec?: number;
  accountId?: string;
  email?: string;
}

export interface FakeAuthorizeRequest {
  readonly at: number;
  readonly clientId: string | null;
  readonly redirectUri: string | null;
  readonly responseType: string | null;
  readonly scope: string | null;
  readonly state: string | null;
  readonly challenge: string | null;
  readonly challengeMethod: string | null;
  readonly params: Readonly<Record<string, string>>;
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
  /** authorization_code grants: whether the code_verifier hashed (S256) to the code_challenge. */
  readonly pkceVerified?: boolean;
  readonly codeFp?: string;
  /** The verifier the client sent (for leak scans). */
  readonly codeVerifier?: string;
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
  /** GET: answers with a 302 to redirect_uri carrying code and state (or error=access_denied). */
  readonly authorizeUrl: string;
  /** POST: RFC 8628 device authorization. */
  readonly deviceUrl: string;
  /** A redirect_uri whose page shows `code#state`, like Anthropic's manual callback page. */
  readonly codePageUrl: string;
  readonly authorizeRequests: readonly FakeAuthorizeRequest[];
  approveNext(approval?: FakeApproval): void;
  /** How the next device authorization behaves. */
  scriptDevice(setup?: FakeDeviceSetup): void;
  /** Follows an authorize URL as a browser would: the authorize redirect, then the page it lands on. */
  browse(authorizeUrl: string): Promise<{ location: string; status: number; text: string }>;
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
