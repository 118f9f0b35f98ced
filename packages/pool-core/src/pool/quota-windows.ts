// Quota windows read off the rate-limit headers of any upstream response, successes included, and their display.
import { normaliseHeaders, parseResetValue, unifiedWindowOfClaim, type HeaderBag } from "./reset-info.js";

/** `rejected`: the window has run out (a unified status of `rejected`, or nothing remaining). */
export type QuotaWindowStatus = "allowed" | "allowed_warning" | "rejected";

export interface QuotaWindow {
  /** `5h`, `7d`, `7d_oi` (Anthropic unified, Codex), `requests`, `tokens`, `input-tokens`, `requests-1h`... */
  readonly name: string;
  /** Share of the window used, 0..1. */
  readonly utilisation?: number;
  /** Epoch milliseconds. */
  readonly resetAt?: number;
  readonly status?: QuotaWindowStatus;
}

export interface QuotaReading {
  readonly windows: QuotaWindow[];
  /** Anthropic's representative claim: the window that governs the account now, as a window name (`5h`). */
  readonly representative?: string;
}

const UNIFIED = "anthropic-ratelimit-unified-";

function toNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}

function clampShare(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.min(1, Math.max(0, value));
}

function toStatus(text: string | undefined): QuotaWindowStatus | undefined {
  const lower = text?.toLowerCase();
  return lower === "allowed" || lower === "allowed_warning" || lower === "rejected" ? lower : undefined;
}

/** An absolute reset in epoch seconds, epoch milliseconds or RFC 3339. */
function instantOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = toNumber(text);
  if (value !== undefined) return value >= 1e12 ? value : value * 1000;
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed;
}

function compact(window: { name: string } & Partial<Record<keyof QuotaWindow, unknown>>): QuotaWindow {
  return Object.fromEntries(
    Object.entries(window).filter(([, value]) => value !== undefined),
  ) as unknown as QuotaWindow;
}

/**
 * Anthropic subscription windows: `anthropic-ratelimit-unified-{5h,7d,7d_oi,...}-{status,reset,utilization}`, the
 * top-level `-status` / `-reset` and the representative claim. `overage` (paid extra usage) is not a window of
 * the plan and is left out, as a `rejected` overage would make a healthy plan look spent.
 */
function readUnified(headers: Map<string, string>): QuotaReading | undefined {
  const names = new Set<string>();
  for (const name of headers.keys()) {
    const window = name.startsWith(UNIFIED)
      ? /^(.+)-(status|reset|utilization)$/.exec(name.slice(UNIFIED.length))?.[1]
      : undefined;
    if (window && window !== "overage") names.add(window);
  }
  const claim = headers.get(`${UNIFIED}representative-claim`);
  const representative = claim ? unifiedWindowOfClaim(claim) : undefined;
  const topStatus = toStatus(headers.get(`${UNIFIED}status`));
  const topReset = instantOf(headers.get(`${UNIFIED}reset`));
  if (names.size === 0 && topStatus === undefined && topReset === undefined) return undefined;
  // With only the top-level headers, they describe the representative window (or one unnamed window).
  if (names.size === 0) names.add(representative ?? "unified");
  const windows = [...names].map((name) => {
    const governs = name === representative || names.size === 1;
    return compact({
      name,
      utilisation: clampShare(toNumber(headers.get(`${UNIFIED}${name}-utilization`))),
      resetAt: instantOf(headers.get(`${UNIFIED}${name}-reset`)) ?? (governs ? topReset : undefined),
      status: toStatus(headers.get(`${UNIFIED}${name}-status`)) ?? (governs ? topStatus : undefined),
    });
  });
  return { windows, ...(representative ? { representative } : {}) };
}

/** One window from a limit / remaining / reset triple; utilisation needs the limit. */
function bucketWindow(
  name: string,
  limit: number | undefined,
  remaining: number | undefined,
  resetAt: number | undefined,
): QuotaWindow {
  const utilisation =
    limit !== undefined && limit > 0 && remaining !== undefined ? clampShare((limit - remaining) / limit) : undefined;
  const status: QuotaWindowStatus | undefined =
    remaining === undefined ? undefined : remaining <= 0 ? "rejected" : "allowed";
  return compact({ name, utilisation, resetAt, status });
}

/** Anthropic API-key limits: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`. */
function readAnthropicBuckets(headers: Map<string, string>): QuotaWindow[] {
  const names = new Set<string>();
  for (const name of headers.keys()) {
    const bucket = /^anthropic-ratelimit-(?!unified-)(.+)-(limit|remaining|reset)$/.exec(name)?.[1];
    if (bucket) names.add(bucket);
  }
  return [...names].map((name) => {
    const get = (field: string) => headers.get(`anthropic-ratelimit-${name}-${field}`);
    return bucketWindow(name, toNumber(get("limit")), toNumber(get("remaining")), instantOf(get("reset")));
  });
}

/**
 * OpenAI-style `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, suffixed buckets such as
 * `x-ratelimit-reset-requests-1h`, and OpenRouter's plain `x-ratelimit-*`, which counts requests.
 */
function readOpenAiBuckets(headers: Map<string, string>, now: number): QuotaWindow[] {
  const names = new Set<string>();
  for (const name of headers.keys()) {
    const match = /^x-ratelimit-(limit|remaining|reset)(?:-(.+))?$/.exec(name);
    if (match) names.add(match[2] ?? "");
  }
  return [...names].map((bucket) => {
    const get = (field: string) => headers.get(bucket ? `x-ratelimit-${field}-${bucket}` : `x-ratelimit-${field}`);
    const reset = get("reset");
    const resetIn = reset === undefined ? undefined : parseResetValue(reset, now);
    return bucketWindow(
      bucket || "requests",
      toNumber(get("limit")),
      toNumber(get("remaining")),
      resetIn === undefined ? undefined : now + resetIn,
    );
  });
}

/** `300` → `5h`, `10080` → `7d`, `90` → `90m`. */
function windowName(minutes: number | undefined, fallback: string): string {
  if (minutes === undefined || minutes <= 0) return fallback;
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

/**
 * Codex (ChatGPT plan): `x-codex-{primary,secondary}-used-percent`, `-window-minutes`, and the reset as
 * `-reset-after-seconds` or `-reset-at` (epoch seconds). Which of the two is the 5-hour window depends on the plan,
 * so the name comes from the window length.
 */
function readCodex(headers: Map<string, string>, now: number): QuotaWindow[] {
  const windows: QuotaWindow[] = [];
  for (const slot of ["primary", "secondary"]) {
    const get = (field: string) => headers.get(`x-codex-${slot}-${field}`);
    const used = toNumber(get("used-percent"));
    const after = toNumber(get("reset-after-seconds"));
    const resetAt = instantOf(get("reset-at")) ?? (after !== undefined && after >= 0 ? now + after * 1000 : undefined);
    if (used === undefined && resetAt === undefined) continue;
    const utilisation = clampShare(used === undefined ? undefined : used / 100);
    windows.push(
      compact({
        name: windowName(toNumber(get("window-minutes")), slot),
        utilisation,
        resetAt,
        status: utilisation === undefined ? undefined : utilisation >= 1 ? "rejected" : "allowed",
      }),
    );
  }
  return windows;
}

/** Every quota window the headers report; empty when they report none. Malformed values are left out. */
export function parseQuotaWindows(headers: HeaderBag, now: number): QuotaReading {
  const map = normaliseHeaders(headers);
  const unified = readUnified(map);
  const windows = [
    ...(unified?.windows ?? []),
    ...readAnthropicBuckets(map),
    ...readOpenAiBuckets(map, now),
    ...readCodex(map, now),
  ];
  return { windows, ...(unified?.representative ? { representative: unified.representative } : {}) };
}

export interface QuotaFormatOptions {
  readonly now: number;
  /** IANA zone for the reset time; the host's own by default. */
  readonly timeZone?: string;
}

/**
 * `5h 62% · resets 14:05`; a reset on another day than today (in the zone shown) names its date:
 * `7d 40% · resets Jun 3 09:00`. A window whose reset has passed shows no utilisation, which is history by then:
 * `5h stale · reset 09:00`.
 */
export function formatQuotaWindow(window: QuotaWindow, options: QuotaFormatOptions): string {
  const clock = new Intl.DateTimeFormat("en-US", {
    timeZone: options.timeZone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  const day = new Intl.DateTimeFormat("en-US", { timeZone: options.timeZone, month: "short", day: "numeric" });
  const when = (at: number) =>
    `${day.format(at) === day.format(options.now) ? "" : `${day.format(at)} `}${clock.format(at)}`;
  if (window.resetAt !== undefined && window.resetAt <= options.now) {
    return `${window.name} stale · reset ${when(window.resetAt)}`;
  }
  const parts = [
    window.utilisation === undefined ? window.name : `${window.name} ${Math.round(window.utilisation * 100)}%`,
  ];
  if (window.status === "rejected") parts.push("rejected");
  if (window.resetAt !== undefined) parts.push(`resets ${when(window.resetAt)}`);
  return parts.join(" · ");
}
