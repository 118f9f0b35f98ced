// Bearer-token authentication. A valid token always gets through; failed attempts are throttled, never the address.
//
// On loopback every client shares 127.0.0.1, so blocking a source blocks the good clients with the bad one (and an
// attacker simply moves to 127.0.0.2). Failures are instead counted where they can be attributed: per token id
// (the `<id>` of `cpg_<id>_<secret>`), and in one global bucket for everything else. An empty bucket turns the next
// failure's 401 into a 429 with Retry-After, and bounds the log lines the noise can cause. The unix-socket peer's
// uid would be a better key, but Node exposes no SO_PEERCRED on a socket, so it is not used.
// see test/gateway/auth-noise.test.ts
import { errorResponse } from "../http-errors.js";
import type { ClientToken } from "../tokens.js";
import { header, type Middleware } from "../types.js";
import { createTokenBuckets } from "./token-buckets.js";

export interface AuthenticationOptions {
  /** May answer a promise for a token not in memory yet (see TokenStore.verifyFresh). */
  verify: (token: string) => ClientToken | undefined | Promise<ClientToken | undefined>;
  /** Failed authentications per second, all clients together, and the burst above that. */
  failureRatePerSecond: number;
  failureBurst: number;
  /** The same for failures presenting one token id. */
  prefixFailureRatePerSecond: number;
  prefixFailureBurst: number;
  /** How often the "throttled" event may repeat. */
  throttleEventIntervalMs: number;
  metricsPublic: boolean;
  onEvent: (event: { event: string; [field: string]: unknown }) => void;
  now?: () => number;
}

const TOKEN_ID = /^cpg_([a-z0-9]{8,32})_/;
/** Token ids remembered at most; one per distinct id presented, so the map stays bounded under a flood. */
const MAX_PREFIXES = 10_000;

export function createAuthenticationMiddleware(options: AuthenticationOptions): Middleware {
  const now = options.now ?? Date.now;
  const global = createTokenBuckets({
    ratePerSecond: options.failureRatePerSecond,
    burst: options.failureBurst,
    maxKeys: 1,
    now,
  });
  const perPrefix = createTokenBuckets({
    ratePerSecond: options.prefixFailureRatePerSecond,
    burst: options.prefixFailureBurst,
    maxKeys: MAX_PREFIXES,
    now,
  });
  let lastThrottleEventAt = Number.NEGATIVE_INFINITY;
  let throttledSinceEvent = 0;

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

    const tokenId = presented === undefined ? undefined : TOKEN_ID.exec(presented)?.[1];
    // A client stuck on one wrong token spends its own bucket first, leaving the global one to everybody else.
    const taken = tokenId === undefined ? { ok: true as const } : perPrefix.take(tokenId);
    const verdict = taken.ok ? global.take("all") : taken;
    if (!verdict.ok) {
      throttledSinceEvent++;
      const at = now();
      if (at - lastThrottleEventAt >= options.throttleEventIntervalMs) {
        options.onEvent({
          event: "auth.throttled",
          scope: taken.ok ? "global" : "token id",
          ...(tokenId === undefined ? {} : { tokenId }),
          refusedSinceLastEvent: throttledSinceEvent,
        });
        lastThrottleEventAt = at;
        throttledSinceEvent = 0;
      }
      return errorResponse(
        "E_RATE_LIMITED",
        "Too many failed authentications; retry later with a valid bearer token (Authorization: Bearer cpg_...).",
        verdict.waitMs,
      );
    }
    options.onEvent({
      event: "auth.failed",
      route: route.name,
      reason: presented === undefined ? "no bearer token" : "unknown token",
      ...(tokenId === undefined ? {} : { tokenId }),
    });
    return errorResponse("E_UNAUTHORIZED", "A valid bearer token is required (Authorization: Bearer cpg_...).");
  };
}
