// What the pool remembers about a credential's refresh tokens, shared by the refresher and the source sync.
// Everything here is stored as loose fields on the credential, so older builds keep it untouched.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Credential, CredentialStatus } from "../store/schema.js";
import { jwtExpiresAt } from "./jwt.js";

/** `borrow`: another tool refreshes and credpool only reads its file. `own`: credpool refreshes. */
export type Ownership = "borrow" | "own";

/** How many used refresh tokens a credential remembers; a stale writer older than this many rotations is unlikely. */
const USED_TOKEN_HISTORY = 16;

const inFlightSchema = z.looseObject({
  since: z.number(),
  host: z.string(),
  pid: z.number().int(),
  tokenFp: z.string(),
});
export type RefreshInFlight = z.infer<typeof inFlightSchema>;

export const refreshStateSchema = z.looseObject({
  /** Written just before the POST and cleared by its outcome: a leftover one means that attempt never finished. */
  inFlight: inFlightSchema.optional(),
  /** No process sends a refresh request before this (429/5xx/unreachable token endpoint). */
  backoffUntil: z.number().optional(),
  strikes: z.number().int().nonnegative().optional(),
  lastRefreshAt: z.number().optional(),
  lastError: z.string().optional(),
  /** Fingerprints of refresh tokens already sent: a writer holding one of them is stale and is ignored. */
  usedTokenFps: z.array(z.string()).optional(),
  /** The provider rejected this refresh token for good; it is never sent again. */
  rejectedTokenFp: z.string().optional(),
  /** A request with this refresh token timed out: the provider may have rotated it, so it is not resent on its own. */
  unknownTokenFp: z.string().optional(),
});
export type RefreshState = z.infer<typeof refreshStateSchema>;

/** A short, non-reversible fingerprint of a token, safe to store and log. */
export function fingerprintToken(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex").slice(0, 16)}`;
}

export function refreshStateOf(credential: Credential): RefreshState {
  const parsed = refreshStateSchema.safeParse(credential.refreshState);
  return parsed.success ? parsed.data : {};
}

/**
 * `refreshStateOf(credential).inFlight`, for a process that looks at it on every pool change while it waits on
 * another's refresh. The schema's first parse in a process (zod compiles it) took 1-2 ms, about a tenth of the CPU
 * each of 120 waiting processes spent (bench/lib/fanout.mjs). The marker's own fields are checked as the schema checks
 * them; only a malformed sibling field, for which the schema would refuse the whole state, goes unnoticed here.
 */
export function inFlightMarkerOf(credential: Credential): RefreshInFlight | undefined {
  const state: unknown = credential.refreshState;
  if (typeof state !== "object" || state === null) return undefined;
  const marker: unknown = (state as { inFlight?: unknown }).inFlight;
  if (typeof marker !== "object" || marker === null) return undefined;
  const { since, host, pid, tokenFp } = marker as Record<string, unknown>;
  const valid =
    Number.isFinite(since) && typeof host === "string" && Number.isSafeInteger(pid) && typeof tokenFp === "string";
  return valid ? (marker as RefreshInFlight) : undefined;
}

/** Mutates `credential.refreshState` in place (inside a transaction). */
export function updateRefreshState(credential: Credential, fn: (state: RefreshState) => void): void {
  const state = structuredClone(refreshStateOf(credential));
  fn(state);
  for (const key of Object.keys(state)) {
    if (state[key] === undefined) delete state[key];
  }
  if (Object.keys(state).length === 0) delete credential.refreshState;
  else credential.refreshState = state;
}

/** Records that `refreshToken` was sent and must never come back from a stale writer. */
export function rememberUsedToken(state: RefreshState, refreshToken: string): void {
  const fp = fingerprintToken(refreshToken);
  state.usedTokenFps = [...(state.usedTokenFps ?? []).filter((item) => item !== fp), fp].slice(-USED_TOKEN_HISTORY);
}

/** Whether a writer offering `refreshToken` is putting back a token the pool has already moved past. */
export function isSpentRefreshToken(credential: Credential, refreshToken: string | undefined): boolean {
  if (!refreshToken) return false;
  const state = refreshStateOf(credential);
  const fp = fingerprintToken(refreshToken);
  return (state.usedTokenFps ?? []).includes(fp) || state.rejectedTokenFp === fp;
}

export interface SourceLink {
  readonly kind: "claude-code" | "codex";
  readonly path: string;
  readonly ownership: Ownership;
}

/** The external file a credential mirrors, if any (set by `credpool import claude-code|codex`). */
export function sourceLinkOf(credential: Credential): SourceLink | undefined {
  const { source, sourcePath } = credential;
  if ((source !== "claude-code" && source !== "codex") || typeof sourcePath !== "string" || sourcePath === "") {
    return undefined;
  }
  return { kind: source, path: sourcePath, ownership: credential.ownership === "own" ? "own" : "borrow" };
}

/** Linked credentials are borrowed unless imported with --own; everything else is credpool's to refresh. */
export function ownershipOf(credential: Credential): Ownership {
  const link = sourceLinkOf(credential);
  if (link) return link.ownership;
  return credential.ownership === "borrow" ? "borrow" : "own";
}

/** When the access token stops working: `expiresAt`, else the JWT's `exp`, else unknown. */
export function accessTokenExpiresAt(credential: Credential): number | undefined {
  return credential.secrets.expiresAt ?? jwtExpiresAt(credential.secrets.accessToken);
}

/** The access token is missing or past its expiry: no request can use it. */
export function isAccessTokenExpired(credential: Credential, now: number): boolean {
  if (!credential.secrets.accessToken) return true;
  const expiresAt = accessTokenExpiresAt(credential);
  return expiresAt !== undefined && now >= expiresAt;
}

/** The token is within `skewMs` of expiry (or already expired): time to refresh ahead of use. */
export function isRefreshDue(credential: Credential, now: number, skewMs: number): boolean {
  if (credential.kind !== "oauth") return false;
  if (!credential.secrets.accessToken) return Boolean(credential.secrets.refreshToken);
  const expiresAt = accessTokenExpiresAt(credential);
  return expiresAt !== undefined && now >= expiresAt - skewMs;
}

/** Statuses that new tokens resolve: anything dead, and benches caused by refreshing or by expiry. */
export function isClearedByNewTokens(status: CredentialStatus): boolean {
  if (status.state === "dead") return true;
  return status.state === "exhausted" && (status.reason === "expired" || (status.reason ?? "").startsWith("refresh_"));
}

/** What the user runs to get a working login back, phrased for where the credential came from. */
export function reloginAdvice(credential: Credential): string {
  const link = sourceLinkOf(credential);
  const from = link && link.path !== "" ? ` --from ${link.path}` : "";
  switch (credential.source) {
    case "claude-code":
      return `Log in again in Claude Code (run \`claude\`, then \`/login\`), then run \`credpool import claude-code${from}\`.`;
    case "codex":
      return `Log in again with \`codex login\`, then run \`credpool import codex${from}\`.`;
    case "login":
      return `Log in again with \`credpool login ${credential.provider}\`; the same account updates this credential in place.`;
    case "hermes":
      return `Log in again in hermes, then run \`credpool import hermes\`, or add a fresh login with \`credpool add ${credential.provider}\`.`;
    default:
      return `Remove it with \`credpool remove ${credential.label}\` and add a fresh login with \`credpool add ${credential.provider}\`.`;
  }
}

/** The backend lock that serialises every refresh (and write-back) of one credential across processes. */
export function refreshLockName(credentialId: string): string {
  return `refresh:${/^[\w.@-]{1,100}$/.test(credentialId) ? credentialId : fingerprintToken(credentialId).slice("sha256:".length)}`;
}

export function describeCredential(credential: Credential): string {
  return `${credential.provider}/${credential.label}`;
}
