// Bearer-token authentication. A valid token always gets through; failed attempts are throttled (auth-throttle.ts),
// never the address.
// see test/gateway/auth-noise.test.ts
import { errorResponse } from "../http-errors.js";
import type { ClientToken } from "../tokens.js";
import { header, type Middleware } from "../types.js";
import type { AuthThrottle } from "./auth-throttle.js";

export interface AuthenticationOptions {
  /** May answer a promise for a token not in memory yet (see TokenStore.verifyFresh). */
  verify: (token: string) => ClientToken | undefined | Promise<ClientToken | undefined>;
  /** Shared with the proxy routes, so failures on either count against the same buckets. */
  throttle: AuthThrottle;
  metricsPublic: boolean;
}

export function createAuthenticationMiddleware(options: AuthenticationOptions): Middleware {
  return async (context, next) => {
    const { route } = context;
    const authorization = header(context.request, "authorization");
    const presented = authorization === undefined ? undefined : /^Bearer (\S+)$/i.exec(authorization)?.[1];
    let verified = presented === undefined ? undefined : options.verify(presented);
    // Awaited only on a miss that re-reads the token file: a known token costs no extra tick.
    if (verified instanceof Promise) verified = await verified;
    const client = verified;
    if (client) {
      context.client = client;
      return next();
    }
    // Public routes answer without a token; a bad one there is no attempt to get in.
    if (route.scope === "public" || (route.name === "metrics" && options.metricsPublic)) return next();

    const verdict = options.throttle.fail(route.name, presented);
    if (!verdict.ok) {
      return errorResponse(
        "E_RATE_LIMITED",
        "Too many failed authentications; retry later with a valid bearer token (Authorization: Bearer cpg_...).",
        verdict.waitMs,
      );
    }
    return errorResponse("E_UNAUTHORIZED", "A valid bearer token is required (Authorization: Bearer cpg_...).");
  };
}
