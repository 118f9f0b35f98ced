// The wire side of a login: PKCE (RFC 7636), the authorize URL and its answer, the code exchange (RFC 6749 4.1) and
// the device flow (RFC 8628). Nothing here prints: codes, verifiers and tokens stay in memory until they are stored.
import { createHash, randomBytes } from "node:crypto";
import { PoolError } from "../errors.js";
import { redactValues, sanitizeMessage } from "../pool/index.js";
import { parseTokenGrant, type TokenGrant } from "../refresh/adapters.js";
import { decodeJwtPayload, openaiAccountId } from "../refresh/jwt.js";
import type { LoginProfile } from "./config.js";

export interface Pkce {
  readonly verifier: string;
  readonly challenge: string;
}

/** A 43-character verifier (32 random bytes) and its S256 challenge. */
export function createPkce(): Pkce {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export interface PendingAuthorization {
  readonly url: string;
  readonly state: string;
  readonly verifier: string;
  readonly redirectUri: string;
}

/** The URL the user opens, with a fresh state and PKCE pair. */
export function startAuthorization(profile: LoginProfile, redirectUri: string): PendingAuthorization {
  if (!profile.authorizeUrl) throw new PoolError("E_INVALID_OPTIONS", `No authorize URL for ${profile.provider}.`);
  const pkce = createPkce();
  const state = randomBytes(24).toString("base64url");
  const url = new URL(profile.authorizeUrl);
  const params: Record<string, string> = {
    ...profile.authorizeParams,
    response_type: "code",
    client_id: profile.token.clientId,
    redirect_uri: redirectUri,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
    state,
  };
  if (profile.scopes) params.scope = profile.scopes;
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return { url: url.toString(), state, verifier: pkce.verifier, redirectUri };
}

function loginError(message: string): PoolError {
  return new PoolError("E_LOGIN_FAILED", message);
}

/** What came back from the provider: `code` and `state`, or `error` (the user denied, ...). */
export interface AuthorizationAnswer {
  readonly code?: string | undefined;
  readonly state?: string | undefined;
  readonly error?: string | undefined;
  readonly errorDescription?: string | undefined;
}

/** Reads what the user pasted: `code#state` (Anthropic's page), or the whole redirect URL, or its query string. */
export function parsePastedAnswer(text: string): AuthorizationAnswer {
  const value = text.trim();
  if (value === "") throw loginError("Nothing was pasted; run the login again.");
  if (/^https?:\/\//i.test(value) || value.startsWith("?") || /(^|&)(code|error)=/.test(value)) {
    let query: URLSearchParams;
    try {
      query = /^https?:/i.test(value) ? new URL(value).searchParams : new URLSearchParams(value.replace(/^\?/, ""));
    } catch {
      throw loginError("The pasted text is not the redirect URL (it does not parse as a URL).");
    }
    return {
      code: query.get("code") ?? undefined,
      state: query.get("state") ?? undefined,
      error: query.get("error") ?? undefined,
      errorDescription: query.get("error_description") ?? undefined,
    };
  }
  const hash = value.indexOf("#");
  if (hash < 0) return { code: value };
  return { code: value.slice(0, hash), state: value.slice(hash + 1) };
}

/** The code, once `state` matches the one this login sent; refuses anything else. */
export function checkAnswer(answer: AuthorizationAnswer, expectedState: string): string {
  if (answer.error) {
    const description = sanitizeMessage(answer.errorDescription, [])?.slice(0, 200);
    const denied =
      answer.error === "access_denied" ? "the request was denied" : `the provider answered ${answer.error}`;
    throw loginError(`Login failed: ${denied}${description ? ` (${description})` : ""}. Nothing was stored.`);
  }
  if (answer.state === undefined || answer.state === "") {
    throw loginError(
      "The pasted text has no state: paste all of it (`code#state`, or the whole redirect URL). Nothing was stored.",
    );
  }
  if (answer.state !== expectedState) {
    throw loginError(
      "The state does not match this login (an answer to another login, or a forged one); refused, nothing was stored. Run the login again.",
    );
  }
  if (!answer.code) throw loginError("The answer carries no authorization code. Nothing was stored.");
  return answer.code;
}

/** A finished login: the tokens and who they belong to. */
export interface LoginGrant extends TokenGrant {
  readonly email: string | undefined;
}

export interface TokenCallOptions {
  readonly fetch?: typeof globalThis.fetch;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

interface TokenAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
  readonly error: string | undefined;
  readonly description: string | undefined;
}

async function postForm(
  url: string,
  fields: Record<string, string>,
  style: "json" | "form",
  secrets: readonly string[],
  options: TokenCallOptions,
): Promise<TokenAnswer> {
  const body = style === "json" ? JSON.stringify(fields) : new URLSearchParams(fields).toString();
  const contentType = style === "json" ? "application/json" : "application/x-www-form-urlencoded";
  let response: Response;
  let text: string;
  try {
    response = await (options.fetch ?? globalThis.fetch)(url, {
      method: "POST",
      headers: { "content-type": contentType, accept: "application/json", "user-agent": "credpool" },
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      redirect: "error",
    });
    text = await response.text();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw loginError(`Could not reach ${new URL(url).host} (${cause}). Nothing was stored.`);
  }
  // An error body is the endpoint's: it may repeat the code or verifier it was sent, so those go before parsing.
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.ok ? text : redactValues(text, secrets).slice(0, 64 * 1024));
  } catch {
    parsed = undefined;
  }
  const record =
    parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  const error = typeof record?.error === "string" ? record.error.slice(0, 64) : undefined;
  const rawDescription =
    typeof record?.error_description === "string"
      ? record.error_description
      : typeof (record?.error as { message?: unknown } | undefined)?.message === "string"
        ? (record?.error as { message: string }).message
        : undefined;
  return {
    ok: response.ok,
    status: response.status,
    body: record,
    error,
    description: sanitizeMessage(rawDescription, secrets)?.slice(0, 200),
  };
}

/** Account id and email: Anthropic's `account` object, OpenAI's id token claims, or the token's own claims. */
function identityOf(profile: LoginProfile, body: Record<string, unknown>, grant: TokenGrant): LoginGrant {
  const account =
    body.account !== null && typeof body.account === "object" ? (body.account as Record<string, unknown>) : {};
  const claims = decodeJwtPayload(grant.idToken) ?? {};
  const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);
  const accountId =
    profile.token.adapter === "openai-codex"
      ? (openaiAccountId(grant.idToken, grant.accessToken) ?? grant.accountId)
      : (str(account.uuid) ?? grant.accountId ?? str(claims.sub));
  const email = str(account.email_address) ?? str(account.email) ?? str(claims.email);
  return { ...grant, accountId, email };
}

function grantFrom(profile: LoginProfile, answer: TokenAnswer, now: number): LoginGrant {
  const grant = answer.body ? parseTokenGrant(profile.token, answer.body, {}, now) : undefined;
  if (!grant) throw loginError(`${profile.provider} answered HTTP ${answer.status} without an access token.`);
  if (!grant.refreshToken) {
    throw loginError(`${profile.provider} issued no refresh token, so credpool could not keep this login alive.`);
  }
  return identityOf(profile, answer.body ?? {}, grant);
}

function refusal(profile: LoginProfile, answer: TokenAnswer): PoolError {
  const detail = [answer.error, answer.description].filter(Boolean).join(": ");
  return loginError(
    `${profile.provider} refused the login (HTTP ${answer.status}${detail ? ` ${detail}` : ""}). Nothing was stored.`,
  );
}

/** Exchanges an authorization code for tokens (RFC 6749 4.1.3 with the PKCE verifier). */
export async function exchangeCode(
  profile: LoginProfile,
  pending: PendingAuthorization,
  code: string,
  options: TokenCallOptions = {},
): Promise<LoginGrant> {
  const fields: Record<string, string> = {
    grant_type: "authorization_code",
    code,
    redirect_uri: pending.redirectUri,
    client_id: profile.token.clientId,
    code_verifier: pending.verifier,
  };
  // Anthropic's endpoint wants the state echoed in the exchange.
  if (profile.token.adapter === "anthropic") fields.state = pending.state;
  const answer = await postForm(
    profile.token.tokenUrl,
    fields,
    profile.exchangeStyle,
    [code, pending.verifier],
    options,
  );
  if (!answer.ok) throw refusal(profile, answer);
  return grantFrom(profile, answer, (options.now ?? Date.now)());
}

export interface DeviceAuthorization {
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete: string | undefined;
  readonly expiresAt: number;
  readonly intervalMs: number;
}

export interface DeviceFlowOptions extends TokenCallOptions {
  /** Shown to the user: where to go and which code to type. */
  readonly onPrompt: (device: DeviceAuthorization) => void;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly signal?: AbortSignal;
  /** Told each time the interval grows after slow_down. */
  readonly onSlowDown?: (intervalMs: number) => void;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(loginError("Login cancelled; nothing was stored."));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(loginError("Login cancelled; nothing was stored."));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** RFC 8628: asks for a device code, shows it, and polls the token endpoint until the user decides. */
export async function runDeviceFlow(profile: LoginProfile, options: DeviceFlowOptions): Promise<LoginGrant> {
  if (!profile.deviceAuthorizationUrl) {
    throw new PoolError("E_INVALID_OPTIONS", `No device authorization URL for ${profile.provider}.`);
  }
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const start: Record<string, string> = { client_id: profile.token.clientId };
  if (profile.scopes) start.scope = profile.scopes;
  const started = await postForm(profile.deviceAuthorizationUrl, start, "form", [], options);
  if (!started.ok || !started.body) throw refusal(profile, started);
  const body = started.body;
  const deviceCode = typeof body.device_code === "string" ? body.device_code : undefined;
  const userCode = typeof body.user_code === "string" ? body.user_code : undefined;
  const verificationUri =
    typeof body.verification_uri === "string"
      ? body.verification_uri
      : typeof body.verification_url === "string"
        ? body.verification_url
        : undefined;
  if (!deviceCode || !userCode || !verificationUri) {
    throw loginError(
      `${profile.provider}'s device authorization answer lacks device_code, user_code or verification_uri.`,
    );
  }
  const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 600;
  // RFC 8628 3.2: 5 seconds when the server names no interval.
  let intervalMs = (typeof body.interval === "number" && body.interval >= 0 ? body.interval : 5) * 1000;
  const expiresAt = Math.min(now() + expiresIn * 1000, now() + profile.timeoutMs);
  options.onPrompt({
    userCode,
    verificationUri,
    verificationUriComplete:
      typeof body.verification_uri_complete === "string" ? body.verification_uri_complete : undefined,
    expiresAt,
    intervalMs,
  });
  for (;;) {
    await sleep(intervalMs, options.signal);
    if (now() >= expiresAt) {
      throw loginError(
        "The device code expired before the login was approved; run the login again. Nothing was stored.",
      );
    }
    const answer = await postForm(
      profile.token.tokenUrl,
      {
        grant_type: "urn:ietf:params:oauth:grant-type:device_code",
        device_code: deviceCode,
        client_id: profile.token.clientId,
      },
      "form",
      [deviceCode],
      options,
    );
    if (answer.ok) return grantFrom(profile, answer, now());
    switch (answer.error) {
      case "authorization_pending":
        continue;
      case "slow_down":
        // RFC 8628 3.5: every slow_down adds 5 seconds, for this and all later polls.
        intervalMs += 5000;
        options.onSlowDown?.(intervalMs);
        continue;
      case "expired_token":
        throw loginError(
          "The device code expired before the login was approved; run the login again. Nothing was stored.",
        );
      case "access_denied":
        throw loginError("The login was denied on the approval page. Nothing was stored.");
      default:
        throw refusal(profile, answer);
    }
  }
}
