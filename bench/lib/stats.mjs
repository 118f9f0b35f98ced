// Summary statistics shared by the bench groups.

/** Nearest-rank percentile, p in [0, 100]. */
export function percentile(values, p) {
  if (values.length === 0) throw new Error("percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median; the mean of the two middle values for an even count. */
export function median(values) {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds to `digits` decimals, for figures that are noisy well before the last digit. */
export function round(value, digits = 2) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A wall clock with sub-millisecond resolution that is comparable across processes on one host. */
export function sharedNow() {
  return performance.timeOrigin + performance.now();
}
