// Which provider a proxy path is for, and the upstream URL it goes to. The client names a path under a fixed
// prefix, never a host: anything that could escape the prefix or name another host is refused before sending.
export type ErrorFormat = "anthropic" | "openai";

export interface ProxyRoute {
  /** The pool provider whose credentials serve the route (`custom:<name>` for /custom/<name>). */
  readonly provider: string;
  /** The URL prefix, without a trailing slash, e.g. `/anthropic`. */
  readonly prefix: string;
  readonly format: ErrorFormat;
}

export type ProxyTarget =
  | { readonly ok: true; readonly route: ProxyRoute; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly format: ErrorFormat; readonly message: string };

/** The real endpoints; config (`proxy.upstreams`) overrides them and a credential's own `baseUrl` wins over both. */
export const DEFAULT_UPSTREAMS: Readonly<Record<string, string>> = {
  anthropic: "https://api.anthropic.com",
  openai: "https://api.openai.com",
  // ChatGPT-plan OAuth accounts: the Responses API of the Codex backend (`<base>/responses`), as Codex CLI calls it.
  "openai-codex": "https://chatgpt.com/backend-api/codex",
  openrouter: "https://openrouter.ai/api",
};

const FIXED_ROUTES: readonly ProxyRoute[] = [
  { provider: "anthropic", prefix: "/anthropic", format: "anthropic" },
  { provider: "openai", prefix: "/openai", format: "openai" },
  { provider: "openai-codex", prefix: "/openai-codex", format: "openai" },
  { provider: "openrouter", prefix: "/openrouter", format: "openai" },
];

const CUSTOM_PREFIX = "/custom/";
/** The name part of a `custom:<name>` provider (see pool-core providers.ts), which is URL-safe as it is. */
const CUSTOM_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Cheap test for the server: is this request the proxy's? */
export function isProxyPath(url: string): boolean {
  return url.startsWith(CUSTOM_PREFIX) || fixedRouteOf(url) !== undefined;
}

function fixedRouteOf(url: string): ProxyRoute | undefined {
  return FIXED_ROUTES.find(
    (route) =>
      url.startsWith(route.prefix) &&
      (url.length === route.prefix.length || "/?".includes(url.charAt(route.prefix.length))),
  );
}

// Control characters, backslashes, and encoded slashes, backslashes, NULs or dots are never needed by a real API
// path; an encoded dot is how `..` hides from a naive check.
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const FORBIDDEN_IN_PATH = /[\x00-\x20\x7f\\]|%(?:2f|5c|00|2e)/i;
// eslint-disable-next-line no-control-regex -- likewise
const FORBIDDEN_IN_QUERY = /[\x00-\x20\x7f#]/;

function refuse(format: ErrorFormat, message: string): ProxyTarget {
  return { ok: false, format, message };
}

/** Splits `url` (the request target) into route, path under the prefix and query; refuses escapes. */
export function resolveProxyTarget(url: string): ProxyTarget | undefined {
  let route: ProxyRoute | undefined;
  let rest: string;
  if (url.startsWith(CUSTOM_PREFIX)) {
    const end = url.slice(CUSTOM_PREFIX.length).search(/[/?]/);
    const name =
      end === -1 ? url.slice(CUSTOM_PREFIX.length) : url.slice(CUSTOM_PREFIX.length, CUSTOM_PREFIX.length + end);
    if (!CUSTOM_NAME.test(name))
      return refuse("openai", "The custom provider name in the path is not valid: use /custom/<name>/v1/...");
    route = { provider: `custom:${name}`, prefix: `${CUSTOM_PREFIX}${name}`, format: "openai" };
    rest = url.slice(route.prefix.length);
  } else {
    route = fixedRouteOf(url);
    if (!route) return undefined;
    rest = url.slice(route.prefix.length);
  }
  const queryAt = rest.indexOf("?");
  const path = queryAt === -1 ? rest : rest.slice(0, queryAt);
  const query = queryAt === -1 ? "" : rest.slice(queryAt);
  if (!path.startsWith("/") || path === "/")
    return refuse(route.format, `No API path after ${route.prefix}; e.g. ${route.prefix}/v1/...`);
  if (FORBIDDEN_IN_PATH.test(path) || FORBIDDEN_IN_QUERY.test(query)) {
    return refuse(route.format, "The request path contains characters or escapes the proxy does not forward.");
  }
  for (const segment of path.slice(1).split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return refuse(route.format, "The request path is not valid percent-encoding.");
    }
    // An empty segment would make `//host` a protocol-relative URL if the path were ever resolved against a base.
    if (decoded === "" || decoded === "." || decoded === "..") {
      return refuse(route.format, "The request path may not contain empty, '.' or '..' segments.");
    }
  }
  return { ok: true, route, path, query };
}

export interface UpstreamAddress {
  /** scheme://host[:port], which alone decides where the request goes. */
  readonly origin: string;
  /** The path and query to request on that origin. */
  readonly path: string;
}

/**
 * Joins a configured base URL and the client's path. Base URLs of OpenAI-compatible providers conventionally end
 * in `/v1` (so do credpool's own provider defaults), while clients send `/v1/...` under the prefix: the `/v1` is
 * not doubled.
 */
export function upstreamAddress(baseUrl: string, path: string, query: string): UpstreamAddress {
  const base = new URL(baseUrl);
  let basePath = base.pathname.replace(/\/+$/, "");
  if (basePath.endsWith("/v1") && (path === "/v1" || path.startsWith("/v1/"))) basePath = basePath.slice(0, -3);
  return { origin: base.origin, path: `${basePath}${path}${query}` };
}
