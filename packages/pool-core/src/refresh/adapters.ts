// Provider adapters: where each provider's token endpoint is, how to ask it, and how to read its answer.
// Every value can be overridden by options (configuration) and by CREDPOOL_<NAME>_* environment variables.
import { z } from "zod";
import { PoolError } from "../errors.js";
import { parseOptions } from "../options.js";
import type { CredentialSecrets } from "../store/schema.js";
import { jwtExpiresAt, openaiAccountId } from "./jwt.js";

export const ADAPTER_KINDS = ["anthropic", "openai-codex", "oauth2"] as const;
export type AdapterKind = (typeof ADAPTER_KINDS)[number];
export type TokenBodyStyle = "json" | "form";

export const adapterOptionsSchema = z.object({
  /** Which protocol variant; defaults from the provider name (anthropic, openai-codex, else generic oauth2). */
  type: z.enum(ADAPTER_KINDS).optional(),
  tokenUrl: z.string().min(1).optional(),
  clientId: z.string().min(1).optional(),
  bodyStyle: z.enum(["json", "form"]).optional(),
  scope: z.string().optional(),
  /** Refresh this long before the access token expires. */
  skewMs: z
    .number()
    .int()
    .nonnegative()
    .max(24 * 3_600_000)
    .optional(),
});
export type AdapterOptions = z.input<typeof adapterOptionsSchema>;

/** A fully resolved token endpoint for one provider. */
export interface TokenEndpoint {
  readonly provider: string;
  readonly adapter: AdapterKind;
  readonly tokenUrl: string;
  readonly clientId: string | undefined;
  readonly bodyStyle: TokenBodyStyle;
  readonly scope: string | undefined;
  readonly skewMs: number;
}

/** A successful token response, already normalised. */
export interface TokenGrant {
  readonly accessToken: string;
  /** Absent when the provider does not rotate refresh tokens; the old one stays valid then. */
  readonly refreshToken: string | undefined;
  readonly expiresAt: number | undefined;
  readonly idToken: string | undefined;
  readonly accountId: string | undefined;
}

interface AdapterDefaults {
  readonly tokenUrl: string | undefined;
  readonly clientId: string | undefined;
  readonly bodyStyle: TokenBodyStyle;
  readonly scope: string | undefined;
  readonly skewMs: number;
  /** CREDPOOL_<envName>_TOKEN_URL and friends. */
  readonly envName: string | undefined;
}

const MINUTE = 60_000;

const BUILT_IN: Readonly<Record<AdapterKind, AdapterDefaults>> = {
  anthropic: {
    tokenUrl: "https://platform.claude.com/v1/oauth/token",
    clientId: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
    bodyStyle: "json",
    scope: undefined,
    // Claude Code itself refreshes five minutes ahead; matching it keeps a borrowed and an owned copy in step.
    skewMs: 5 * MINUTE,
    envName: "ANTHROPIC",
  },
  "openai-codex": {
    tokenUrl: "https://auth.openai.com/oauth/token",
    clientId: "app_EMoamEEZ73f0CkXaXp7hrann",
    bodyStyle: "json",
    scope: "openid profile email",
    skewMs: 5 * MINUTE,
    envName: "OPENAI",
  },
  oauth2: {
    tokenUrl: undefined,
    clientId: undefined,
    bodyStyle: "form",
    scope: undefined,
    skewMs: MINUTE,
    envName: undefined,
  },
};

export function adapterKindFor(provider: string, options?: AdapterOptions): AdapterKind {
  if (options?.type) return options.type;
  if (provider === "anthropic") return "anthropic";
  if (provider === "openai-codex") return "openai-codex";
  return "oauth2";
}

/** `custom:my-idp` becomes MY_IDP, as in CREDPOOL_MY_IDP_TOKEN_URL. */
export function envNameFor(provider: string, kind: AdapterKind): string {
  return (
    BUILT_IN[kind].envName ??
    provider
      .replace(/^custom:/, "")
      .toUpperCase()
      .replace(/[^A-Z0-9]/g, "_")
  );
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** Refresh tokens only travel over TLS; plain http is allowed for loopback fakes in tests. */
export function checkTokenUrl(url: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PoolError("E_INVALID_OPTIONS", `${where}: "${url}" is not a URL.`);
  }
  const loopback = LOOPBACK_HOSTS.has(parsed.hostname) || /^127\.\d+\.\d+\.\d+$/.test(parsed.hostname);
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback)) {
    throw new PoolError(
      "E_INVALID_OPTIONS",
      `${where}: token endpoints must use https (plain http only on loopback), got ${parsed.protocol}//${parsed.host}.`,
    );
  }
  return parsed.toString();
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/**
 * Resolves the token endpoint for `provider`. As everywhere in credpool's configuration, CREDPOOL_<NAME>_*
 * environment variables win over options (the `refresh.providers` section of config.json), which win over the
 * built-in defaults; that is also how tests point every endpoint at a local fake.
 */
export function resolveTokenEndpoint(
  provider: string,
  rawOptions: AdapterOptions | undefined,
  env: NodeJS.ProcessEnv,
): TokenEndpoint {
  const options = parseOptions(adapterOptionsSchema, rawOptions ?? {}, `refresh options for ${provider}`);
  const kind = adapterKindFor(provider, options);
  const defaults = BUILT_IN[kind];
  const name = envNameFor(provider, kind);
  const tokenUrl = envValue(env, `CREDPOOL_${name}_TOKEN_URL`) ?? options.tokenUrl ?? defaults.tokenUrl;
  if (!tokenUrl) {
    throw new PoolError(
      "E_REFRESH_FAILED",
      `No token endpoint is configured for provider "${provider}", so its OAuth tokens cannot be refreshed. ` +
        `Set CREDPOOL_${name}_TOKEN_URL and CREDPOOL_${name}_CLIENT_ID (or set refresh.providers.${provider}.tokenUrl in config.json).`,
      { details: { provider } },
    );
  }
  const bodyFromEnv = envValue(env, `CREDPOOL_${name}_TOKEN_BODY`);
  if (bodyFromEnv !== undefined && bodyFromEnv !== "json" && bodyFromEnv !== "form") {
    throw new PoolError(
      "E_INVALID_OPTIONS",
      `CREDPOOL_${name}_TOKEN_BODY must be "json" or "form", got "${bodyFromEnv}".`,
    );
  }
  const skewFromEnv = envValue(env, `CREDPOOL_${name}_REFRESH_SKEW_MS`);
  if (skewFromEnv !== undefined && !/^\d+$/.test(skewFromEnv)) {
    throw new PoolError(
      "E_INVALID_OPTIONS",
      `CREDPOOL_${name}_REFRESH_SKEW_MS must be a whole number of milliseconds.`,
    );
  }
  return {
    provider,
    adapter: kind,
    tokenUrl: checkTokenUrl(tokenUrl, `Token endpoint for ${provider}`),
    clientId: envValue(env, `CREDPOOL_${name}_CLIENT_ID`) ?? options.clientId ?? defaults.clientId,
    bodyStyle: bodyFromEnv ?? options.bodyStyle ?? defaults.bodyStyle,
    scope: envValue(env, `CREDPOOL_${name}_SCOPE`) ?? options.scope ?? defaults.scope,
    skewMs: (skewFromEnv === undefined ? undefined : Number(skewFromEnv)) ?? options.skewMs ?? defaults.skewMs,
  };
}

/** The skew to use for due checks, even when no endpoint can be resolved (e.g. borrowed credentials). */
export function skewFor(provider: string, options: AdapterOptions | undefined, env: NodeJS.ProcessEnv): number {
  const kind = adapterKindFor(provider, options);
  const fromEnv = envValue(env, `CREDPOOL_${envNameFor(provider, kind)}_REFRESH_SKEW_MS`);
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  return options?.skewMs ?? BUILT_IN[kind].skewMs;
}

/** The request body for a refresh_token grant, encoded for the endpoint's body style. */
export function buildRefreshBody(endpoint: TokenEndpoint, refreshToken: string): { contentType: string; body: string } {
  const fields: Record<string, string> = { grant_type: "refresh_token", refresh_token: refreshToken };
  if (endpoint.clientId) fields.client_id = endpoint.clientId;
  if (endpoint.scope) fields.scope = endpoint.scope;
  if (endpoint.bodyStyle === "json") return { contentType: "application/json", body: JSON.stringify(fields) };
  return { contentType: "application/x-www-form-urlencoded", body: new URLSearchParams(fields).toString() };
}

function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Reads a 2xx token response; undefined when it carries no access token (the outcome is then unknown). */
export function parseTokenGrant(
  endpoint: TokenEndpoint,
  body: unknown,
  previous: CredentialSecrets,
  now: number,
): TokenGrant | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  const accessToken = stringField(record, "access_token");
  if (!accessToken) return undefined;
  const expiresIn = typeof record.expires_in === "number" && record.expires_in > 0 ? record.expires_in : undefined;
  const fromExpiresIn = expiresIn === undefined ? undefined : now + Math.round(expiresIn * 1000);
  const idToken = stringField(record, "id_token");
  // Anthropic states expires_in; OpenAI's access token is a JWT whose exp is the truth (Codex reads it the same way).
  const expiresAt =
    endpoint.adapter === "openai-codex"
      ? (jwtExpiresAt(accessToken) ?? fromExpiresIn)
      : (fromExpiresIn ?? jwtExpiresAt(accessToken));
  const accountId =
    endpoint.adapter === "openai-codex"
      ? (openaiAccountId(idToken, accessToken) ?? previous.accountId)
      : (stringField(record, "account_id") ?? previous.accountId);
  return {
    accessToken,
    refreshToken: stringField(record, "refresh_token"),
    expiresAt,
    idToken: idToken ?? previous.idToken,
    accountId,
  };
}

/** New secrets after a grant: unknown fields of the old secrets are kept. */
export function applyGrant(previous: CredentialSecrets, grant: TokenGrant): CredentialSecrets {
  const next: CredentialSecrets = { ...previous, accessToken: grant.accessToken };
  if (grant.refreshToken) next.refreshToken = grant.refreshToken;
  if (grant.expiresAt !== undefined) next.expiresAt = grant.expiresAt;
  else delete next.expiresAt;
  if (grant.idToken) next.idToken = grant.idToken;
  if (grant.accountId) next.accountId = grant.accountId;
  return next;
}
