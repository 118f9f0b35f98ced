// Reads "when can I retry" from provider responses. Anything malformed is ignored so the default TTL applies.

export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  msec: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

function header(headers: HeaderBag, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) {
      const first = Array.isArray(value) ? (value[0] as string | undefined) : (value as string | undefined);
      return first?.trim() || undefined;
    }
  }
  return undefined;
}

/** `1m30s`, `6ms`, `2.5s`, `4hr 5min`: a sum of number+unit parts. The whole string must parse. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "") return undefined;
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/y;
  let total = 0;
  let index = 0;
  while (index < trimmed.length) {
    part.lastIndex = index;
    const match = part.exec(trimmed);
    if (!match) return undefined;
    const unit = UNIT_MS[match[2] ?? ""];
    if (unit === undefined) return undefined;
    total += Number(match[1]) * unit;
    index = part.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

function parseSeconds(text: string): number | undefined {
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text) * 1000;
}

/** A reset instant as epoch seconds, epoch milliseconds or an RFC 3339 / HTTP date. */
function parseInstant(text: string, now: number): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const value = Number(text);
    const epochMs = value > 1e12 ? value : value * 1000;
    return epochMs - now;
  }
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed - now;
}

const MESSAGE_PATTERNS: RegExp[] = [
  /quotaResetDelay["']?\s*[:=]\s*["']?([\d.]+\s*[a-z]+)/i,
  /retry[\s-]*(?:after|in)\s*:?\s*([\d.]+(?:\s*[a-z]+)?(?:\s+[\d.]+\s*[a-z]+)*)/i,
  /try again in\s*([\d.]+(?:\s*[a-z]+)?(?:\s+[\d.]+\s*[a-z]+)*)/i,
  /resets?\s+in\s*([\d.]+\s*[a-z]+(?:\s+[\d.]+\s*[a-z]+)*)/i,
];

function parseMessage(message: string): number | undefined {
  for (const pattern of MESSAGE_PATTERNS) {
    const match = pattern.exec(message);
    if (!match?.[1]) continue;
    const text = match[1].trim();
    // A bare number after "retry after" means seconds.
    const value = /^[\d.]+$/.test(text) ? parseSeconds(text) : parseDuration(text.replace(/[.,;)]+$/, ""));
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * Milliseconds until the provider says the credential is usable again, or undefined when it says nothing usable.
 * Never negative; the caller applies its cap.
 */
export function parseResetInfo(
  headers: HeaderBag | undefined,
  message: string | undefined,
  now: number,
): number | undefined {
  const candidates: Array<number | undefined> = [];
  if (headers) {
    const retryAfterMs = header(headers, "retry-after-ms");
    if (retryAfterMs && /^\d+(\.\d+)?$/.test(retryAfterMs)) candidates.push(Number(retryAfterMs));
    const retryAfter = header(headers, "retry-after");
    if (retryAfter) {
      const parsed = parseSeconds(retryAfter);
      candidates.push(parsed ?? (/[a-z]/i.test(retryAfter) ? parseInstant(retryAfter, now) : undefined));
    }
    const unified = header(headers, "anthropic-ratelimit-unified-reset");
    if (unified) candidates.push(parseInstant(unified, now));
    // The most restrictive of the other anthropic-ratelimit-*-reset and x-ratelimit-reset-* headers wins.
    const perLimit: number[] = [];
    for (const key of Object.keys(headers)) {
      const name = key.toLowerCase();
      const value = header(headers, name);
      if (!value) continue;
      if (/^anthropic-ratelimit-(?!unified-reset$).+-reset$/.test(name)) {
        const parsed = parseInstant(value, now);
        if (parsed !== undefined) perLimit.push(parsed);
      } else if (/^x-ratelimit-reset(-[a-z]+)?$/.test(name)) {
        const parsed = parseDuration(value) ?? parseSeconds(value);
        if (parsed !== undefined) perLimit.push(parsed);
      }
    }
    if (perLimit.length > 0) candidates.push(Math.max(...perLimit));
  }
  const fromHeaders = candidates.find((value) => value !== undefined && Number.isFinite(value) && value >= 0);
  if (fromHeaders !== undefined) return fromHeaders;
  if (message) {
    const fromMessage = parseMessage(message);
    if (fromMessage !== undefined && fromMessage >= 0) return fromMessage;
  }
  return undefined;
}
