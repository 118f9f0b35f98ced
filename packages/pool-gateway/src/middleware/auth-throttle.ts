// Throttling of failed authentications, shared by the lease API (middleware/authenticate.ts) and the proxy routes,
// so both count against the same buckets: switching routes buys no extra guesses.
//
// On loopback every client shares 127.0.0.1, so blocking a source blocks the good clients with the bad one (and an
// attacker simply moves to 127.0.0.2). Failures are instead counted where they can be attributed: per token id
// (the `<id>` of `cpg_<id>_<secret>`), and in one global bucket for everything else. An empty bucket turns the next
// failure's 401 into a 429 with Retry-After, and bounds the log lines the noise can cause. The unix-socket peer's
// uid would be a better key, but Node exposes no SO_PEERCRED on a socket, so it is not used.
// see test/gateway/auth-noise.test.ts and test/proxy/auth-throttle.test.ts
import { createTokenBuckets } from "./token-buckets.js";

export interface AuthThrottleOptions {
  /** Failed authentications per second, all clients together, and the burst above that. */
  failureRatePerSecond: number;
  failureBurst: number;
  /** The same for failures presenting one token id. */
  prefixFailureRatePerSecond: number;
  prefixFailureBurst: number;
  /** How often the "throttled" event may repeat. */
  throttleEventIntervalMs: number;
  onEvent: (event: { event: string; [field: string]: unknown }) => void;
  now?: () => number;
}

/** The gateway's defaults (see gatewayOptionsSchema in handler.ts). */
export const AUTH_THROTTLE_DEFAULTS = {
  failureRatePerSecond: 5,
  failureBurst: 50,
  prefixFailureRatePerSecond: 0.2,
  prefixFailureBurst: 5,
  throttleEventIntervalMs: 5 * 60_000,
} as const;

export interface AuthThrottle {
  /**
   * Counts one failed authentication on `route` presenting `presented` (undefined: no token at all). `ok` means
   * answer it 401; otherwise answer 429 and retry after `waitMs`.
   */
  fail(route: string, presented: string | undefined): { ok: true } | { ok: false; waitMs: number };
}

const TOKEN_ID = /^cpg_([a-z0-9]{8,32})_/;
/** Token ids remembered at most; one per distinct id presented, so the map stays bounded under a flood. */
const MAX_PREFIXES = 10_000;

export function createAuthThrottle(options: AuthThrottleOptions): AuthThrottle {
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

  return {
    fail(route, presented) {
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
        return verdict;
      }
      options.onEvent({
        event: "auth.failed",
        route,
        reason: presented === undefined ? "no bearer token" : "unknown token",
        ...(tokenId === undefined ? {} : { tokenId }),
      });
      return verdict;
    },
  };
}
