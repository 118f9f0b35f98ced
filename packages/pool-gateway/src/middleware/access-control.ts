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
    if (route.scope === "lease" && (client?.scope === "proxy" || client?.scope === "delegate")) {
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
    return next();
  };
}
