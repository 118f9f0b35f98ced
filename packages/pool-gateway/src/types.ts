// Request and response shapes shared by the pipeline, the routes and the server adapter.
import type { ZodType } from "zod";
import type { ClientToken } from "./tokens.js";

export interface GatewayRequest {
  readonly method: string;
  /** Path and query, e.g. `/v1/leases?x=1`. */
  readonly url: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body?: string;
  /** The peer address, for per-source access control. */
  readonly remoteAddress?: string;
}

export interface GatewayResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** delegate: minting child tokens, for delegate and admin tokens. */
/** read: pool state without secrets, for read, lease and admin tokens (the status page). */
export type RouteScope = "public" | "lease" | "admin" | "delegate" | "read";

export interface RequestContext {
  readonly request: GatewayRequest;
  readonly path: string;
  readonly params: Record<string, string>;
  readonly route: RouteDefinition;
  readonly startedAt: number;
  requestId: string;
  /** Set by access control. */
  client?: ClientToken;
  /** Set by validation: the parsed, schema-checked body. */
  body?: unknown;
}

export type Next = () => Promise<GatewayResponse>;
export type Middleware = (context: RequestContext, next: Next) => Promise<GatewayResponse>;

export interface RouteDefinition {
  readonly method: string;
  /** Segments; `:name` captures. */
  readonly pattern: string;
  readonly scope: RouteScope;
  /** A zod schema for the JSON body, if the route takes one. */
  readonly body?: ZodType;
  /**
   * The body carries no secret and repeats from request to request (`{"outcome":"ok"}`), so its validated value
   * may be remembered by its text. Never set on a route whose body holds a secret.
   */
  readonly repeatableBody?: boolean;
  readonly name: string;
  readonly handle: (context: RequestContext) => Promise<GatewayResponse>;
}

export function header(request: GatewayRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
