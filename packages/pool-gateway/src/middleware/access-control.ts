// Bearer-token authentication and scopes; a source with repeated bad tokens is blocked for a while.
import { errorResponse } from "../http-errors.js";
import type { ClientToken } from "../tokens.js";
import { header, type Middleware } from "../types.js";

export interface AccessControlOptions {
  verify: (token: string) => ClientToken | undefined;
  maxFailures: number;
  blockMs: number;
  /** How often the "source blocked" admin event may repeat per source. */
  blockEventIntervalMs: number;
  metricsPublic: boolean;
  onEvent: (event: { event: string; source: string; [field: string]: unknown }) => void;
  now?: () => number;
}

interface SourceState {
  failures: number;
  blockedUntil: number;
  lastEventAt: number;
}

export function createAccessControlMiddleware(options: AccessControlOptions): Middleware {
  const sources = new Map<string, SourceState>();
  const now = options.now ?? Date.now;

  return async (context, next) => {
    const { route } = context;
    if (route.scope === "public" || (route.name === "metrics" && options.metricsPublic)) return next();
    const source = context.request.remoteAddress ?? "unknown";
    const at = now();
    const state = sources.get(source);
    if (state && state.blockedUntil > at) {
      if (at - state.lastEventAt >= options.blockEventIntervalMs) {
        state.lastEventAt = at;
        options.onEvent({ event: "auth.source_blocked", source, until: state.blockedUntil });
      }
      return errorResponse(
        "E_FORBIDDEN",
        "This source is blocked after repeated failed authentications.",
        state.blockedUntil - at,
      );
    }
    const authorization = header(context.request, "authorization") ?? "";
    const presented = /^Bearer (\S+)$/i.exec(authorization)?.[1];
    const client = presented ? options.verify(presented) : undefined;
    if (!client) {
      const next_ = state ?? { failures: 0, blockedUntil: 0, lastEventAt: 0 };
      next_.failures++;
      if (next_.failures >= options.maxFailures) {
        next_.failures = 0;
        next_.blockedUntil = at + options.blockMs;
        next_.lastEventAt = at;
        options.onEvent({ event: "auth.source_blocked", source, until: next_.blockedUntil });
      }
      sources.set(source, next_);
      options.onEvent({ event: "auth.failed", source, route: route.name, reason: presented ? "unknown token" : "no bearer token" });
      return errorResponse("E_UNAUTHORIZED", "A valid bearer token is required (Authorization: Bearer cpg_...).");
    }
    if (state) sources.delete(source);
    if (route.scope === "admin" && client.scope !== "admin") {
      return errorResponse("E_FORBIDDEN", `Token "${client.name}" has scope ${client.scope}; this route needs an admin token.`);
    }
    // A proxy token reaches upstreams through the gateway; it never holds a raw credential itself.
    if (route.scope === "lease" && client.scope === "proxy") {
      return errorResponse("E_FORBIDDEN", `Token "${client.name}" has scope proxy; this route needs a lease token.`);
    }
    context.client = client;
    return next();
  };
}
