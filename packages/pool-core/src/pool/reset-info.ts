// Reads "when can I retry" from provider responses. Anything malformed is ignored so the default TTL applies.

export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

const UNIT_MS: Record<string, number> = {
  us: 0.001,
  µs: 0.001,
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

/** Below this a bare number is a duration in seconds (1e9 s is 31 years); from here on it is epoch seconds. */
const EPOCH_SECONDS_MIN = 1e9;
/** From here on a bare number is epoch milliseconds (1e12 ms is September 2001). */
const EPOCH_MS_MIN = 1e12;

/** Header names lower-cased, first value of a list, blanks dropped. */
export function normaliseHeaders(headers: HeaderBag): Map<string, string> {
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(headers)) {
    const first = Array.isArray(value) ? (value[0] as string | undefined) : (value as string | undefined);
    const trimmed = first?.trim();
    if (trimmed) map.set(key.toLowerCase(), trimmed);
  }
  return map;
}

/** `1m30s`, `6ms`, `2.5s`, `4hr 5min`, Go's `6m0s`: a sum of number+unit parts. The whole string must parse. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "") return undefined;
  const part = /(\d+(?:\.\d+)?)\s*([a-zµ]+)\s*/y;
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

/** A reset instant as epoch seconds, epoch milliseconds or an RFC 3339 / HTTP date; milliseconds from `now`. */
function parseInstant(text: string, now: number): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const value = Number(text);
    const epochMs = value >= EPOCH_MS_MIN ? value : value * 1000;
    return epochMs - now;
  }
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed - now;
}

/**
 * An `x-ratelimit-reset*` value, which providers fill in three ways: a duration (OpenAI's `6m0s`, or bare seconds),
 * epoch seconds, or epoch milliseconds (OpenRouter). A bare number is told apart by magnitude.
 */
export function parseResetValue(text: string, now: number): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const value = Number(text);
    if (value < EPOCH_SECONDS_MIN) return value * 1000;
    return (value >= EPOCH_MS_MIN ? value : value * 1000) - now;
  }
  return parseDuration(text) ?? (/^\d{4}-\d{2}-\d{2}/.test(text) ? parseInstant(text, now) : undefined);
}

function usable(value: number | undefined): value is number {
  return value !== undefined && Number.isFinite(value) && value >= 0;
}

function latest(values: ReadonlyArray<number | undefined>): number | undefined {
  const valid = values.filter(usable);
  return valid.length > 0 ? Math.max(...valid) : undefined;
}

interface Bucket {
  remaining?: number;
  resetMs?: number;
}

/**
 * Per-bucket limits: Anthropic's `anthropic-ratelimit-{bucket}-{remaining,reset}` and the `x-ratelimit-*` family
 * (`x-ratelimit-remaining-requests`, `x-ratelimit-reset-tokens`, suffixed `x-ratelimit-reset-requests-1h`, and
 * OpenRouter's plain `x-ratelimit-reset`).
 */
function collectBuckets(headers: Map<string, string>, now: number): Map<string, Bucket> {
  const buckets = new Map<string, Bucket>();
  const bucket = (key: string): Bucket => {
    let found = buckets.get(key);
    if (!found) buckets.set(key, (found = {}));
    return found;
  };
  for (const [name, value] of headers) {
    const anthropic = /^anthropic-ratelimit-(?!unified-)(.+)-(remaining|reset)$/.exec(name);
    const generic = /^x-ratelimit-(remaining|reset)(?:-(.+))?$/.exec(name);
    if (anthropic?.[1]) {
      const entry = bucket(`anthropic:${anthropic[1]}`);
      if (anthropic[2] === "reset") entry.resetMs = parseInstant(value, now);
      else if (/^\d+$/.test(value)) entry.remaining = Number(value);
    } else if (generic?.[1]) {
      const entry = bucket(`x:${generic[2] ?? ""}`);
      if (generic[1] === "reset") entry.resetMs = parseResetValue(value, now);
      else if (/^\d+(\.\d+)?$/.test(value)) entry.remaining = Number(value);
    }
  }
  return buckets;
}

/**
 * Only the bucket that ran out counts: an empty requests bucket resetting in 1 s must not be read as the 6 minutes
 * the half-full tokens bucket needs. The latest reset of all buckets is the fallback only when no `-remaining`
 * header says which one ran out. See test/pool/reset-info.test.ts ("only the bucket that ran out").
 */
function bucketReset(headers: Map<string, string>, now: number): number | undefined {
  const buckets = [...collectBuckets(headers, now).values()];
  const exhausted = buckets.filter((bucket) => bucket.remaining !== undefined && bucket.remaining <= 0);
  if (exhausted.length > 0) return latest(exhausted.map((bucket) => bucket.resetMs));
  return latest(buckets.map((bucket) => bucket.resetMs));
}

/** `five_hour` → `5h`, `seven_day` → `7d`, `seven_day_opus` → `7d_opus`: claim names as the window headers spell them. */
export function unifiedWindowOfClaim(claim: string): string {
  return claim.replace(/^five_hour/, "5h").replace(/^seven_day/, "7d");
}

/**
 * Anthropic's unified (subscription) limits. A window whose `-status` is `rejected` is the one that ran out; with
 * several, the credential waits for the last of them. A top-level `allowed` means the 429 was not these windows'
 * doing, so their resets (up to 5 h or 7 d away) must not bench the credential: that is the per-minute 429 that
 * locked an account for its whole 5-hour window. `overage` is paid extra usage, not a window of the plan.
 */
function unifiedReset(headers: Map<string, string>, now: number): number | undefined {
  const prefix = "anthropic-ratelimit-unified-";
  const rejected: Array<number | undefined> = [];
  for (const [name, value] of headers) {
    const window = name.startsWith(prefix) ? /^(.+)-status$/.exec(name.slice(prefix.length))?.[1] : undefined;
    if (window && window !== "overage" && value.toLowerCase() === "rejected") {
      const reset = headers.get(`${prefix}${window}-reset`);
      rejected.push(reset ? parseInstant(reset, now) : undefined);
    }
  }
  const fromWindows = latest(rejected);
  if (fromWindows !== undefined) return fromWindows;
  const status = headers.get(`${prefix}status`)?.toLowerCase();
  if (status !== undefined && status !== "rejected") return undefined;
  const claim = headers.get(`${prefix}representative-claim`);
  const claimReset = claim ? headers.get(`${prefix}${unifiedWindowOfClaim(claim)}-reset`) : undefined;
  const overall = headers.get(`${prefix}reset`);
  return (
    latest([claimReset ? parseInstant(claimReset, now) : undefined]) ??
    (overall ? parseInstant(overall, now) : undefined)
  );
}

/** Whether a unified window, or the unified status itself, says `rejected` (`overage` aside). */
function unifiedRejected(headers: Map<string, string>): boolean {
  const prefix = "anthropic-ratelimit-unified-";
  for (const [name, value] of headers) {
    if (!name.startsWith(prefix) || value.toLowerCase() !== "rejected") continue;
    const window = /^(.*)status$/.exec(name.slice(prefix.length))?.[1];
    if (window === "" || (window !== undefined && window !== "overage-")) return true;
  }
  return false;
}

function codexWindowExhausted(headers: Map<string, string>, slot: string): boolean {
  const used = headers.get(`x-codex-${slot}-used-percent`);
  return used !== undefined && /^\d+(\.\d+)?$/.test(used) && Number(used) >= 100;
}

/** Codex's `x-codex-{primary,secondary}-used-percent` at 100 or more: the latest reset of those windows. */
function codexReset(headers: Map<string, string>, now: number): number | undefined {
  const resets: Array<number | undefined> = [];
  for (const slot of ["primary", "secondary"]) {
    if (!codexWindowExhausted(headers, slot)) continue;
    const at = headers.get(`x-codex-${slot}-reset-at`);
    const after = headers.get(`x-codex-${slot}-reset-after-seconds`);
    resets.push(at ? parseInstant(at, now) : after ? parseSeconds(after) : undefined);
  }
  return latest(resets);
}

/**
 * Whether the headers say an account-wide window ran out: an Anthropic unified window (or the unified status)
 * `rejected`, or a Codex window used to 100 %. Such a limit covers every model of the account, so the pool benches
 * the whole credential, not only the model the request named. See test/pool/quota.test.ts ("which 429 benches").
 */
export function reportsAccountLimit(headers: HeaderBag | undefined): boolean {
  if (!headers) return false;
  const map = normaliseHeaders(headers);
  return unifiedRejected(map) || hasExhaustedCodexWindow(map);
}

function hasExhaustedCodexWindow(headers: Map<string, string>): boolean {
  return codexWindowExhausted(headers, "primary") || codexWindowExhausted(headers, "secondary");
}

function parseHeaders(headers: HeaderBag, now: number): number | undefined {
  const map = normaliseHeaders(headers);
  // A window that ran out is not over until it resets: a shorter retry-after would only meet the same refusal.
  const account = latest([unifiedRejected(map) ? unifiedReset(map, now) : undefined, codexReset(map, now)]);
  if (account !== undefined) return account;
  const candidates: Array<number | undefined> = [];
  const retryAfterMs = map.get("retry-after-ms");
  if (retryAfterMs && /^\d+(\.\d+)?$/.test(retryAfterMs)) candidates.push(Number(retryAfterMs));
  const retryAfter = map.get("retry-after");
  if (retryAfter) {
    const parsed = parseSeconds(retryAfter);
    candidates.push(parsed ?? (/[a-z]/i.test(retryAfter) ? parseInstant(retryAfter, now) : undefined));
  }
  candidates.push(unifiedReset(map, now));
  candidates.push(bucketReset(map, now));
  return candidates.find(usable);
}

// ---- message text and JSON bodies

/** Body fields that carry a reset: Codex's `usage_limit_reached` error, and the fields peers' relays add. */
const BODY_FIELDS: Record<string, (value: unknown, now: number) => number | undefined> = {
  resets_in_seconds: (value) => secondsOf(value),
  retry_after: (value) => secondsOf(value),
  retry_after_ms: (value) => (typeof value === "number" ? value : undefined),
  resets_at: (value, now) => instantOf(value, now),
  reset_at: (value, now) => instantOf(value, now),
  retryDelay: (value) => (typeof value === "string" ? parseDuration(value) : undefined),
};

function secondsOf(value: unknown): number | undefined {
  if (typeof value === "number") return value * 1000;
  return typeof value === "string" ? parseSeconds(value.trim()) : undefined;
}

function instantOf(value: unknown, now: number): number | undefined {
  if (typeof value === "number") return parseInstant(String(value), now);
  return typeof value === "string" ? parseInstant(value.trim(), now) : undefined;
}

function parseJsonBody(message: string): unknown {
  const start = message.indexOf("{");
  const end = message.lastIndexOf("}");
  if (start < 0 || end <= start) return undefined;
  try {
    return JSON.parse(message.slice(start, end + 1));
  } catch {
    return undefined;
  }
}

function parseBodyFields(body: unknown, now: number, depth = 0): number | undefined {
  if (body === null || typeof body !== "object" || depth > 4) return undefined;
  const record = body as Record<string, unknown>;
  for (const [field, read] of Object.entries(BODY_FIELDS)) {
    if (field in record) {
      const value = read(record[field], now);
      if (usable(value)) return value;
    }
  }
  for (const value of Object.values(record)) {
    const nested = parseBodyFields(value, now, depth + 1);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

function zonedParts(instant: number, timeZone: string | undefined) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(instant);
  const part = (type: string) => Number(parts.find((entry) => entry.type === type)?.value);
  return {
    year: part("year"),
    month: part("month"),
    day: part("day"),
    hour: part("hour"),
    minute: part("minute"),
    second: part("second"),
  };
}

/** The instant a wall-clock time in `timeZone` names, correct across a DST change. */
function wallClockToInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string | undefined,
): number {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute);
  const offsetAt = (instant: number) => {
    const p = zonedParts(instant, timeZone);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(instant / 1000) * 1000;
  };
  const first = asUtc - offsetAt(asUtc);
  return asUtc - offsetAt(first);
}

/**
 * Claude's `resets 9:37pm (America/Chicago)`: the next time that clock reads 9:37 pm in the named zone, so a time
 * already past means tomorrow. Without a zone the host's own is used, as the client that printed it would have.
 */
function nextClockTime(hour: number, minute: number, timeZone: string | undefined, now: number): number | undefined {
  if (hour > 23 || minute > 59) return undefined;
  let today;
  try {
    today = zonedParts(now, timeZone);
  } catch {
    return undefined; // an unknown time zone name
  }
  for (const dayOffset of [0, 1]) {
    const instant = wallClockToInstant(today.year, today.month, today.day + dayOffset, hour, minute, timeZone);
    if (instant > now) return instant - now;
  }
  return undefined;
}

function parseClockTime(message: string, now: number): number | undefined {
  const match =
    /resets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?:\s*\(([A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)*)\))?/i.exec(
      message,
    );
  if (!match?.[1]) return undefined;
  const [, hourText, minuteText, meridiem, timeZone] = match;
  // A bare `resets 5` is not a time; a number with neither minutes nor am/pm may be anything.
  if (!meridiem && minuteText === undefined) return undefined;
  let hour = Number(hourText);
  if (meridiem) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (meridiem.toLowerCase() === "pm" ? 12 : 0);
  }
  return nextClockTime(hour, Number(minuteText ?? 0), timeZone, now);
}

const MESSAGE_PATTERNS: RegExp[] = [
  /quotaResetDelay["']?\s*[:=]\s*["']?([\d.]+\s*[a-z]+)/i,
  /retry[\s-]*(?:after|in)\s*:?\s*([\d.]+(?:\s*[a-z]+)?(?:\s+[\d.]+\s*[a-z]+)*)/i,
  /try again in\s*([\d.]+(?:\s*[a-z]+)?(?:\s+[\d.]+\s*[a-z]+)*)/i,
  /resets?\s+in\s*([\d.]+\s*[a-z]+(?:\s+[\d.]+\s*[a-z]+)*)/i,
];

function parseMessage(message: string, now: number): number | undefined {
  const fromBody = parseBodyFields(parseJsonBody(message), now);
  if (fromBody !== undefined) return fromBody;
  // Claude Code's `Claude AI usage limit reached|1760000000`: the reset as epoch seconds after the bar.
  const epoch = /limit reached\|(\d{10,13})\b/i.exec(message)?.[1];
  if (epoch) return parseInstant(epoch, now);
  // `resets at 2026-08-24T10:00:00Z`; a time without a zone is read as UTC, not as this host's local time.
  const iso = /resets?\s+at\s+(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?/i.exec(
    message,
  );
  if (iso?.[1]) return parseInstant(`${iso[1].replace(" ", "T")}${iso[2] ?? "Z"}`, now);
  for (const pattern of MESSAGE_PATTERNS) {
    const match = pattern.exec(message);
    if (!match?.[1]) continue;
    const text = match[1].trim();
    // A bare number after "retry after" means seconds.
    const value = /^[\d.]+$/.test(text) ? parseSeconds(text) : parseDuration(text.replace(/[.,;)]+$/, ""));
    if (value !== undefined) return value;
  }
  return parseClockTime(message, now);
}

/**
 * Milliseconds until the provider says the credential is usable again, or undefined when it says nothing usable.
 * Headers win over the message; never negative; the caller applies its cap.
 */
export function parseResetInfo(
  headers: HeaderBag | undefined,
  message: string | undefined,
  now: number,
): number | undefined {
  const fromHeaders = headers ? parseHeaders(headers, now) : undefined;
  if (fromHeaders !== undefined) return fromHeaders;
  if (message) {
    const fromMessage = parseMessage(message, now);
    if (usable(fromMessage)) return fromMessage;
  }
  return undefined;
}
