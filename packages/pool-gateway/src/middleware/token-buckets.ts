// Token buckets by key, in a map of bounded size: the throttle for failed authentications.
export interface TokenBucketsOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size. */
  burst: number;
  /** Keys kept at most; the oldest go first. A key forgotten early only starts again with a full bucket. */
  maxKeys: number;
  now: () => number;
}

export interface TokenBuckets {
  /** Takes one token from `key`'s bucket; when it is empty, says how long until one is back. */
  take(key: string): { ok: true } | { ok: false; waitMs: number };
}

export function createTokenBuckets(options: TokenBucketsOptions): TokenBuckets {
  const buckets = new Map<string, { tokens: number; updatedAt: number }>();
  return {
    take(key) {
      const at = options.now();
      let bucket = buckets.get(key);
      if (bucket) {
        bucket.tokens = Math.min(
          options.burst,
          bucket.tokens + ((at - bucket.updatedAt) / 1000) * options.ratePerSecond,
        );
        bucket.updatedAt = at;
      } else {
        if (buckets.size >= options.maxKeys) {
          const oldest = buckets.keys().next();
          if (!oldest.done) buckets.delete(oldest.value);
        }
        buckets.set(key, (bucket = { tokens: options.burst, updatedAt: at }));
      }
      if (bucket.tokens < 1) return { ok: false, waitMs: ((1 - bucket.tokens) / options.ratePerSecond) * 1000 };
      bucket.tokens -= 1;
      return { ok: true };
    },
  };
}
