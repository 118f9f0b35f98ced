// Login settings: where each provider's authorize and device endpoints are, its scopes and redirect. The token
// endpoint and client id are the refresh adapter's (refresh.providers in config.json), so a login refreshes through
// the same endpoint it was issued by. CREDPOOL_<NAME>_* variables win over config.json, which wins over defaults.
import { z } from "zod";
import { PoolError } from "../errors.js";
import { parseOptions } from "../options.js";
import {
  adapterKindFor,
  checkTokenUrl,
  envNameFor,
  resolveTokenEndpoint,
  type AdapterOptions,
  type TokenEndpoint,
} from "../refresh/adapters.js";

export const LOGIN_FLOWS = ["pkce", "device"] as const;
export type LoginFlow = (typeof LOGIN_FLOWS)[number];

const LOOPBACK_PATH = /^\/[A-Za-z0-9/_.-]*$/;

export const loginProviderSchema = z.object({
  /** pkce (authorization code + PKCE S256, the default) or device (RFC 8628). */
  flow: z.enum(LOGIN_FLOWS).optional(),
  authorizeUrl: z.string().min(1).optional(),
  deviceAuthorizationUrl: z.string().min(1).optional(),
  /** Space-separated, as sent in `scope`. */
  scopes: z.string().min(1).optional(),
  /** A redirect whose page shows the code for the user to paste (Anthropic's), instead of a loopback server. */
  redirectUri: z.url({ error: "must be a URL" }).optional(),
  /** Serve the redirect on 127.0.0.1 at this port. */
  loopbackPort: z.number().int().min(1).max(65_535).optional(),
  loopbackPath: z.string().regex(LOOPBACK_PATH, "must be a path such as /auth/callback").optional(),
  /** Where requests with this login go, for custom:<name> providers (like `add --base-url`). */
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  /** Extra query parameters of the authorize URL. */
  authorizeParams: z.record(z.string(), z.string()).optional(),
});
export type LoginProviderOptions = z.input<typeof loginProviderSchema>;

export const loginConfigSchema = z.object({
  /** How long a login waits for the browser (the loopback redirect, a pasted code, a device approval). */
  timeoutMs: z.number().int().min(1000).max(3_600_000).default(300_000),
  /** Keyed by provider: anthropic, openai-codex, custom:<name>. */
  providers: z.record(z.string(), loginProviderSchema).optional(),
});
export type LoginConfig = z.input<typeof loginConfigSchema>;

/** Everything one login needs, resolved. */
export interface LoginProfile {
  readonly provider: string;
  readonly flow: LoginFlow;
  readonly token: TokenEndpoint & { readonly clientId: string };
  readonly authorizeUrl: string | undefined;
  readonly deviceAuthorizationUrl: string | undefined;
  readonly scopes: string | undefined;
  /** The pasted-code redirect; used when there is no loopback or it cannot be used. */
  readonly redirectUri: string | undefined;
  readonly loopback: { readonly port: number; readonly path: string; readonly host: string } | undefined;
  readonly authorizeParams: Readonly<Record<string, string>>;
  readonly baseUrl: string | undefined;
  /** Body of the authorization_code exchange. */
  readonly exchangeStyle: "json" | "form";
  readonly timeoutMs: number;
}

interface LoginDefaults {
  readonly authorizeUrl?: string;
  readonly deviceAuthorizationUrl?: string;
  readonly scopes?: string;
  readonly redirectUri?: string;
  readonly loopbackPort?: number;
  readonly loopbackPath?: string;
  readonly loopbackHost?: string;
  readonly authorizeParams?: Readonly<Record<string, string>>;
  readonly exchangeStyle?: "json" | "form";
}

/** The public values Claude Code and the Codex CLI use. */
const BUILT_IN: Readonly<Record<string, LoginDefaults>> = {
  anthropic: {
    authorizeUrl: "https://claude.ai/oauth/authorize",
    scopes: "org:create_api_key user:profile user:inference",
    redirectUri: "https://console.anthropic.com/oauth/code/callback",
    loopbackPath: "/callback",
    // Asks the callback page to show `code#state` for pasting.
    authorizeParams: { code: "true" },
    exchangeStyle: "json",
  },
  "openai-codex": {
    authorizeUrl: "https://auth.openai.com/oauth/authorize",
    deviceAuthorizationUrl: "https://auth.openai.com/oauth/device/code",
    scopes: "openid profile email offline_access",
    loopbackPort: 1455,
    loopbackPath: "/auth/callback",
    // The Codex client id is registered with http://localhost:1455/auth/callback.
    loopbackHost: "localhost",
    authorizeParams: { id_token_add_organizations: "true", codex_cli_simplified_flow: "true" },
    exchangeStyle: "form",
  },
};

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function invalid(message: string): PoolError {
  return new PoolError("E_INVALID_OPTIONS", message);
}

/** Resolves `provider`'s login settings, naming the missing or bad field when it cannot. */
export function resolveLoginProfile(
  provider: string,
  options: {
    readonly login?: LoginConfig | undefined;
    readonly refreshProviders?: Readonly<Record<string, AdapterOptions>> | undefined;
    readonly env: NodeJS.ProcessEnv;
    readonly flow?: LoginFlow;
  },
): LoginProfile {
  const { env } = options;
  const login = parseOptions(loginConfigSchema, options.login ?? {}, "the login section of config.json");
  const where = `login.providers.${provider}`;
  const own = parseOptions(loginProviderSchema, login.providers?.[provider] ?? {}, where);
  const builtIn = BUILT_IN[provider];
  if (!builtIn && !provider.startsWith("custom:")) {
    throw new PoolError(
      "E_USAGE",
      `credpool cannot log in to "${provider}": use anthropic, openai-codex or custom:<name> (configured under login.providers in config.json).`,
    );
  }
  const defaults = builtIn ?? {};
  const refreshOptions = options.refreshProviders?.[provider];
  const name = envNameFor(provider, adapterKindFor(provider, refreshOptions));
  const flow = options.flow ?? own.flow ?? "pkce";
  const authorizeUrl = envValue(env, `CREDPOOL_${name}_AUTHORIZE_URL`) ?? own.authorizeUrl ?? defaults.authorizeUrl;
  const deviceAuthorizationUrl =
    envValue(env, `CREDPOOL_${name}_DEVICE_URL`) ?? own.deviceAuthorizationUrl ?? defaults.deviceAuthorizationUrl;
  const portText = envValue(env, `CREDPOOL_${name}_LOGIN_PORT`);
  if (portText !== undefined && (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535)) {
    throw invalid(`CREDPOOL_${name}_LOGIN_PORT must be a port number from 1 to 65535, got "${portText}".`);
  }
  const port = portText !== undefined ? Number(portText) : (own.loopbackPort ?? defaults.loopbackPort);
  const redirectUri = envValue(env, `CREDPOOL_${name}_REDIRECT_URI`) ?? own.redirectUri ?? defaults.redirectUri;
  if (flow === "pkce") {
    if (!authorizeUrl) throw invalid(`${where}.authorizeUrl: an authorize URL is needed for the pkce flow.`);
    if (port === undefined && redirectUri === undefined) {
      throw invalid(`${where}: set loopbackPort (a local redirect) or redirectUri (a page showing the code).`);
    }
  } else if (!deviceAuthorizationUrl) {
    throw invalid(`${where}.deviceAuthorizationUrl: a device authorization URL is needed for the device flow.`);
  }
  let token: TokenEndpoint;
  try {
    token = resolveTokenEndpoint(provider, refreshOptions, env);
  } catch (error) {
    if (!(error instanceof PoolError) || error.code !== "E_REFRESH_FAILED") throw error;
    throw invalid(
      `refresh.providers.${provider}.tokenUrl: a token endpoint is needed to log in to ${provider} (or set CREDPOOL_${name}_TOKEN_URL).`,
    );
  }
  if (!token.clientId) {
    throw invalid(
      `refresh.providers.${provider}.clientId: a client id is needed to log in to ${provider} (or set CREDPOOL_${name}_CLIENT_ID).`,
    );
  }
  const path = own.loopbackPath ?? defaults.loopbackPath ?? "/callback";
  return {
    provider,
    flow,
    token: { ...token, clientId: token.clientId },
    authorizeUrl: authorizeUrl === undefined ? undefined : checkTokenUrl(authorizeUrl, `${where}.authorizeUrl`),
    deviceAuthorizationUrl:
      deviceAuthorizationUrl === undefined
        ? undefined
        : checkTokenUrl(deviceAuthorizationUrl, `${where}.deviceAuthorizationUrl`),
    scopes: own.scopes ?? defaults.scopes ?? token.scope,
    redirectUri,
    loopback: port === undefined ? undefined : { port, path, host: defaults.loopbackHost ?? "127.0.0.1" },
    authorizeParams: { ...defaults.authorizeParams, ...own.authorizeParams },
    baseUrl: own.baseUrl,
    exchangeStyle: defaults.exchangeStyle ?? token.bodyStyle,
    timeoutMs: login.timeoutMs,
  };
}
