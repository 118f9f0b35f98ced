// Durations typed by people: plain seconds ("90") or with units ("90s", "10m", "1h30m").
import { PoolError, parseDuration } from "@credpool/pool-core";

export function parseSecondsOrDuration(flag: string, text: string, limits: { minMs: number; maxMs: number }): number {
  const ms = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) * 1000 : parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms)) {
    throw new PoolError("E_USAGE", `${flag} takes seconds or a duration like 90s, 10m or 1h, got "${text}".`);
  }
  if (ms < limits.minMs || ms > limits.maxMs) {
    throw new PoolError(
      "E_USAGE",
      `${flag} must be between ${limits.minMs / 1000}s and ${limits.maxMs / 1000}s, got "${text}".`,
    );
  }
  return Math.round(ms);
}
