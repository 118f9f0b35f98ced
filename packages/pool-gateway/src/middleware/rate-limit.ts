// A token bucket per client, so one runaway worker cannot starve the others.
import { errorResponse } from "../http-errors.js";
import type { Middleware } from "../types.js";

export interface RateLimitOptions {
  /** Sustained requests per second per client. */
  ratePerSecond: number;
  /** Bucket size: how far above the rate a client may burst. */
  burst: number;
  now?: () => number;
}

export function createRateLimitMiddleware(options: RateLimitOptions): Middleware {
  const buckets = new Map<string, { tokens: number; updatedAt: number }>();
  const now = options.now ?? (() => performance.now());

  return async (context, next) => {
    const key = context.client?.id;
    if (key === undefined) return next();
    const at = now();
    const bucket = buckets.get(key) ?? { tokens: options.burst, updatedAt: at };
    bucket.tokens = Math.min(options.burst, bucket.tokens + ((at - bucket.updatedAt) / 1000) * options.ratePerSecond);
    bucket.updatedAt = at;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      const waitMs = ((1 - bucket.tokens) / options.ratePerSecond) * 1000;
      return errorResponse(
        "E_RATE_LIMITED",
        `Rate limit of ${options.ratePerSecond}/s exceeded for this client.`,
        waitMs,
      );
    }
    bucket.tokens -= 1;
    return next();
  };
}
