// Scopes: an authenticated client reaches a route only if its token's scope allows it.
import { errorResponse } from "../http-errors.js";
import type { Middleware } from "../types.js";

export function createAccessControlMiddleware(): Middleware {
  return async (context, next) => {
    const { route, client } = context;
    if (route.scope === "admin" && client?.scope !== "admin") {
      return errorResponse(
        "E_FORBIDDEN",
        client
          ? `Token "${client.name}" has scope ${client.scope}; this route needs an admin token.`
          : "This route needs an admin token.",
      );
    }
    // A proxy or delegate token reaches upstreams through the gateway; it never holds a raw credential itself.
    if (
      route.scope === "lease" &&
      (client?.scope === "proxy" || client?.scope === "delegate" || client?.scope === "read")
    ) {
      return errorResponse(
        "E_FORBIDDEN",
        `Token "${client.name}" has scope ${client.scope}; this route needs a lease token.`,
      );
    }
    // Admin implies delegate: an admin token can do everything a child could be given.
    if (route.scope === "delegate" && client?.scope !== "delegate" && client?.scope !== "admin") {
      return errorResponse(
        "E_FORBIDDEN",
        client
          ? `Token "${client.name}" has scope ${client.scope}; minting tokens needs scope delegate.`
          : "Minting tokens needs a token with scope delegate.",
      );
    }
    if (route.scope === "read" && !canRead(client?.scope)) {
      return errorResponse(
        "E_FORBIDDEN",
        `Token "${client?.name ?? "?"}" has scope ${client?.scope ?? "none"}; this route needs a read, lease or admin token.`,
      );
    }
    return next();
  };
}

/** Who may see pool state (the status page, /v1/events): read, lease and admin tokens; never a proxy or delegate one. */
export function canRead(scope: string | undefined): boolean {
  return scope === "read" || scope === "lease" || scope === "admin";
}
