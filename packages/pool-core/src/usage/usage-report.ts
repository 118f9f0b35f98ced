// Sums usage buckets for `credpool usage`, and prices them from config.json's optional `prices` table. No price
// is built in: a model without a matching entry has no cost.
import { z } from "zod";
import type { UsageBucket } from "./usage-store.js";

const perMillion = z.number().nonnegative().max(1_000_000);

/** US dollars per million tokens; a type left out costs nothing. */
export const modelPriceSchema = z.object({
  input: perMillion.optional(),
  output: perMillion.optional(),
  cacheRead: perMillion.optional(),
  cacheWrite: perMillion.optional(),
});

/** `prices` in config.json: a model name or a glob with `*` (e.g. "claude-sonnet-*") to its price. */
export const pricesConfigSchema = z.record(z.string().min(1).max(200), modelPriceSchema);

export type ModelPrice = z.output<typeof modelPriceSchema>;
export type PriceTable = z.output<typeof pricesConfigSchema>;

export const USAGE_GROUPINGS = ["credential", "model", "client"] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

export interface UsageRow {
  /** What the row is for: `provider/label`, `provider/model`, or the client token's name. */
  readonly key: string;
  requests: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  /** Dollars for the priced part; null when no bucket in the row has a price. */
  cost: number | null;
  /** Requests whose model has no price (their tokens are not in `cost`). */
  unpricedRequests: number;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

/** The entry for `model`: an exact name first, then the longest matching glob. */
export function findPrice(prices: PriceTable | undefined, model: string): ModelPrice | undefined {
  if (!prices) return undefined;
  if (Object.hasOwn(prices, model)) return prices[model];
  let best: [string, ModelPrice] | undefined;
  for (const [pattern, price] of Object.entries(prices)) {
    if (!pattern.includes("*") || !globToRegExp(pattern).test(model)) continue;
    if (!best || pattern.length > best[0].length) best = [pattern, price];
  }
  return best?.[1];
}

export function costOf(
  bucket: Pick<UsageBucket, "input" | "output" | "cacheRead" | "cacheWrite">,
  price: ModelPrice,
): number {
  return (
    (bucket.input * (price.input ?? 0) +
      bucket.output * (price.output ?? 0) +
      bucket.cacheRead * (price.cacheRead ?? 0) +
      bucket.cacheWrite * (price.cacheWrite ?? 0)) /
    1_000_000
  );
}

function keyFor(bucket: UsageBucket, by: UsageGrouping): string {
  if (by === "credential") return `${bucket.provider}/${bucket.credentialLabel}`;
  if (by === "model") return `${bucket.provider}/${bucket.model}`;
  return bucket.client;
}

/** Totals of the buckets whose hour overlaps [sinceMs, now], grouped `by`, largest first. */
export function summarizeUsage(
  buckets: readonly UsageBucket[],
  options: { readonly sinceMs: number; readonly by: UsageGrouping; readonly prices?: PriceTable },
): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  // A bucket covers its whole hour: one that started before `since` but ends after it is counted.
  const from = options.sinceMs - 3_600_000;
  for (const bucket of buckets) {
    if (Date.parse(bucket.hour) <= from) continue;
    const key = keyFor(bucket, options.by);
    let row = rows.get(key);
    if (!row) {
      row = { key, requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cost: null, unpricedRequests: 0 };
      rows.set(key, row);
    }
    row.requests += bucket.requests;
    row.input += bucket.input;
    row.output += bucket.output;
    row.cacheRead += bucket.cacheRead;
    row.cacheWrite += bucket.cacheWrite;
    const price = findPrice(options.prices, bucket.model);
    if (price) row.cost = (row.cost ?? 0) + costOf(bucket, price);
    else row.unpricedRequests += bucket.requests;
  }
  return [...rows.values()].sort((a, b) => b.requests - a.requests || a.key.localeCompare(b.key));
}
