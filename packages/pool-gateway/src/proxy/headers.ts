// What crosses the proxy in each direction: the client's credentials, cookies and hop-by-hop headers never reach
// an upstream, and the credential's own auth is set in the form its provider expects.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { ErrorFormat } from "./routes.js";

/** RFC 9110 §7.6.1 connection-specific fields, plus the proxy variants still seen in the wild. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Never forwarded upstream: the client's auth (the gateway token), its cookies, and what names the client. */
const CLIENT_ONLY = new Set([
  "authorization",
  "x-api-key",
  "proxy-authorization",
  "cookie",
  "host",
  "content-length",
  "expect",
  "forwarded",
  "x-real-ip",
]);

/** Never passed back: cookies of the provider's domain would be stored for the gateway's. */
const UPSTREAM_ONLY = new Set(["set-cookie", "set-cookie2"]);

export const OAUTH_BETA = "oauth-2025-04-20";

export interface UpstreamAuth {
  readonly provider: string;
  readonly format: ErrorFormat;
  /** The API key or OAuth access token. */
  readonly token: string;
  readonly tokenType: "api_key" | "bearer";
  /** The ChatGPT account a Codex (openai-codex) token belongs to; its backend wants it beside the token. */
  readonly accountId?: string | undefined;
}

/** The header the Codex backend reads the ChatGPT account id from. */
export const CODEX_ACCOUNT_HEADER = "chatgpt-account-id";

function connectionNamed(headers: IncomingHttpHeaders): Set<string> {
  const named = new Set<string>();
  const connection: string | string[] | undefined = headers.connection;
  const values: string[] = Array.isArray(connection) ? connection : connection ? [connection] : [];
  for (const value of values) {
    for (const name of value.split(",")) named.add(name.trim().toLowerCase());
  }
  return named;
}

/** Merges `flag` into a comma-separated anthropic-beta value without repeating it. */
export function mergeBetaFlag(existing: string | string[] | undefined, flag: string): string {
  const flags = (Array.isArray(existing) ? existing.join(",") : (existing ?? ""))
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  if (!flags.includes(flag)) flags.push(flag);
  return flags.join(",");
}

export function buildUpstreamHeaders(
  incoming: IncomingHttpHeaders,
  auth: UpstreamAuth,
  bodyLength: number,
): Record<string, string | string[]> {
  const named = connectionNamed(incoming);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || CLIENT_ONLY.has(name) || named.has(name)) continue;
    // Every X-Forwarded-* (for, host, proto, port, prefix, ...) describes the client's side, never the upstream's.
    if (name.startsWith("x-credpool-") || name.startsWith("x-forwarded-")) continue;
    headers[name] = value;
  }
  // The response is passed through byte for byte and an SSE head is read on the way: ask for it uncompressed.
  headers["accept-encoding"] = "identity";
  if (bodyLength > 0) headers["content-length"] = String(bodyLength);
  if (auth.format === "anthropic") {
    if (auth.tokenType === "api_key") {
      headers["x-api-key"] = auth.token;
    } else {
      headers.authorization = `Bearer ${auth.token}`;
      headers["anthropic-beta"] = mergeBetaFlag(incoming["anthropic-beta"], OAUTH_BETA);
    }
  } else {
    headers.authorization = `Bearer ${auth.token}`;
  }
  if (auth.provider === "openai-codex") {
    // The account is the credential's, never the client's: a client's own account id would not match the token.
    delete headers[CODEX_ACCOUNT_HEADER];
    if (auth.accountId) headers[CODEX_ACCOUNT_HEADER] = auth.accountId;
  }
  return headers;
}

export function buildClientHeaders(upstream: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const connection = upstream.connection;
  const named = new Set(
    (Array.isArray(connection) ? connection.join(",") : (connection ?? ""))
      .split(",")
      .map((name) => name.trim().toLowerCase()),
  );
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name) || UPSTREAM_ONLY.has(name) || named.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}

/** The gateway token a client presents: `x-api-key` (Anthropic SDKs) or `Authorization: Bearer` (everyone else). */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string" && apiKey !== "") return apiKey.trim();
  return /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? "")?.[1];
}
