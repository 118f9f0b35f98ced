// Quota windows from response headers of any status (issue 13, section 6), each row a provider's wire sample, and
// the display form `5h 62% · resets 14:05`.
import { describe, expect, it } from "vitest";
import { formatQuotaWindow, parseQuotaWindows, type QuotaReading } from "../../src/pool/quota-windows.js";
import type { HeaderBag } from "../../src/pool/reset-info.js";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const epochSeconds = (at: number) => String(Math.floor(at / 1000));

describe("parseQuotaWindows", () => {
  it.each<[string, HeaderBag, QuotaReading]>([
    [
      "Anthropic subscription, 200: 5h and 7d windows, top-level status and the representative claim",
      {
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "anthropic-ratelimit-unified-reset": epochSeconds(NOW + 2 * HOUR),
        "anthropic-ratelimit-unified-5h-status": "allowed",
        "anthropic-ratelimit-unified-5h-utilization": "0.62",
        "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 2 * HOUR),
        "anthropic-ratelimit-unified-7d-status": "allowed_warning",
        "anthropic-ratelimit-unified-7d-utilization": "0.81",
        "anthropic-ratelimit-unified-7d-reset": epochSeconds(NOW + 50 * HOUR),
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-disabled-reason": "out_of_credits",
        "anthropic-ratelimit-unified-fallback-percentage": "0.5",
      },
      {
        representative: "5h",
        windows: [
          { name: "5h", utilisation: 0.62, resetAt: NOW + 2 * HOUR, status: "allowed" },
          { name: "7d", utilisation: 0.81, resetAt: NOW + 50 * HOUR, status: "allowed_warning" },
        ],
      },
    ],
    [
      "Anthropic subscription, 429: only the top-level headers, which describe the claimed window",
      {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-representative-claim": "seven_day",
        "anthropic-ratelimit-unified-reset": epochSeconds(NOW + 30 * HOUR),
      },
      { representative: "7d", windows: [{ name: "7d", resetAt: NOW + 30 * HOUR, status: "rejected" }] },
    ],
    [
      "Anthropic subscription: utilisation over 1 (7d_oi at 1.02) is clamped",
      {
        "anthropic-ratelimit-unified-7d_oi-status": "rejected",
        "anthropic-ratelimit-unified-7d_oi-utilization": "1.02",
        "anthropic-ratelimit-unified-7d_oi-reset": epochSeconds(NOW + 30 * HOUR),
      },
      { windows: [{ name: "7d_oi", utilisation: 1, resetAt: NOW + 30 * HOUR, status: "rejected" }] },
    ],
    [
      "Anthropic API key, 200: requests, tokens, input and output tokens with limits",
      {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:01Z",
        "anthropic-ratelimit-tokens-limit": "80000",
        "anthropic-ratelimit-tokens-remaining": "20000",
        "anthropic-ratelimit-tokens-reset": "2025-06-01T12:00:45Z",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "2025-06-01T12:00:45Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "8000",
        "anthropic-ratelimit-output-tokens-reset": "2025-06-01T12:00:05Z",
      },
      {
        windows: [
          { name: "requests", utilisation: 0.02, resetAt: NOW + SECOND, status: "allowed" },
          { name: "tokens", utilisation: 0.75, resetAt: NOW + 45 * SECOND, status: "allowed" },
          { name: "input-tokens", utilisation: 1, resetAt: NOW + 45 * SECOND, status: "rejected" },
          { name: "output-tokens", utilisation: 0, resetAt: NOW + 5 * SECOND, status: "allowed" },
        ],
      },
    ],
    [
      "OpenAI, 200: requests and tokens buckets with Go durations",
      {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "7500",
        "x-ratelimit-reset-tokens": "6m0s",
      },
      {
        windows: [
          { name: "requests", utilisation: 0.002, resetAt: NOW + 120, status: "allowed" },
          { name: "tokens", utilisation: 0.75, resetAt: NOW + 6 * MINUTE, status: "allowed" },
        ],
      },
    ],
    [
      "OpenRouter, 429: plain X-RateLimit-* with the reset in epoch milliseconds",
      { "X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(NOW + 45 * SECOND) },
      { windows: [{ name: "requests", utilisation: 1, resetAt: NOW + 45 * SECOND, status: "rejected" }] },
    ],
    [
      "Cerebras: suffixed per-day and per-minute buckets",
      {
        "x-ratelimit-limit-requests-day": "14400",
        "x-ratelimit-remaining-requests-day": "10800",
        "x-ratelimit-reset-requests-day": "33011.5",
      },
      { windows: [{ name: "requests-day", utilisation: 0.25, resetAt: NOW + 33_011_500, status: "allowed" }] },
    ],
    [
      "Codex (Plus), 200: primary 5h and secondary 7d, resets after seconds",
      {
        "x-codex-plan-type": "plus",
        "x-codex-primary-used-percent": "42",
        "x-codex-primary-window-minutes": "300",
        "x-codex-primary-reset-after-seconds": "3600",
        "x-codex-secondary-used-percent": "9",
        "x-codex-secondary-window-minutes": "10080",
        "x-codex-secondary-reset-after-seconds": "486400",
      },
      {
        windows: [
          { name: "5h", utilisation: 0.42, resetAt: NOW + HOUR, status: "allowed" },
          { name: "7d", utilisation: 0.09, resetAt: NOW + 486_400 * SECOND, status: "allowed" },
        ],
      },
    ],
    [
      "Codex (Pro), 429: the weekly window as primary, spent, reset given as epoch seconds",
      {
        "x-codex-primary-used-percent": "100",
        "x-codex-primary-window-minutes": "10080",
        "x-codex-primary-reset-at": epochSeconds(NOW + 20 * HOUR),
      },
      { windows: [{ name: "7d", utilisation: 1, resetAt: NOW + 20 * HOUR, status: "rejected" }] },
    ],
    [
      "Codex without a window length: named by its slot",
      { "x-codex-secondary-used-percent": "12.5", "x-codex-secondary-reset-after-seconds": "600" },
      { windows: [{ name: "secondary", utilisation: 0.125, resetAt: NOW + 10 * MINUTE, status: "allowed" }] },
    ],
    ["a response with no rate-limit headers", { "content-type": "application/json" }, { windows: [] }],
  ])("%s", (_case, headers, expected) => {
    expect(parseQuotaWindows(headers, NOW)).toEqual(expected);
  });

  it("leaves out malformed values instead of guessing", () => {
    expect(
      parseQuotaWindows(
        {
          "anthropic-ratelimit-unified-5h-utilization": "lots",
          "anthropic-ratelimit-unified-5h-reset": "soon",
          "anthropic-ratelimit-unified-5h-status": "maybe",
          "x-codex-primary-used-percent": "garbage",
          "x-codex-primary-window-minutes": "garbage",
        },
        NOW,
      ),
    ).toEqual({ windows: [{ name: "5h" }] });
  });
});

describe("formatQuotaWindow", () => {
  const options = { now: NOW, timeZone: "UTC" };
  it.each<[string, Parameters<typeof formatQuotaWindow>[0], string]>([
    [
      "a 5h window",
      { name: "5h", utilisation: 0.62, resetAt: Date.parse("2025-06-01T14:05:00Z") },
      "5h 62% · resets 14:05",
    ],
    [
      "a 7d window a day or more away, with its date",
      { name: "7d", utilisation: 0.4, resetAt: Date.parse("2025-06-03T09:00:00Z") },
      "7d 40% · resets Jun 3 09:00",
    ],
    [
      "a rejected window",
      { name: "5h", utilisation: 1, resetAt: Date.parse("2025-06-01T16:30:00Z"), status: "rejected" },
      "5h 100% · rejected · resets 16:30",
    ],
    ["a window without utilisation or reset", { name: "requests" }, "requests"],
    [
      "a reset already past as stale, without its old utilisation",
      { name: "tokens", utilisation: 0.1, resetAt: NOW - MINUTE },
      "tokens stale · reset 11:59",
    ],
    [
      "a reset less than a day away but tomorrow, with its date",
      { name: "5h", utilisation: 0.2, resetAt: Date.parse("2025-06-02T01:00:00Z") },
      "5h 20% · resets Jun 2 01:00",
    ],
  ])("shows %s", (_case, window, expected) => {
    expect(formatQuotaWindow(window, options)).toBe(expected);
  });

  it("shows the reset in the zone asked for", () => {
    const window = { name: "5h", utilisation: 0.62, resetAt: Date.parse("2025-06-01T14:05:00Z") };
    expect(formatQuotaWindow(window, { now: NOW, timeZone: "America/Chicago" })).toBe("5h 62% · resets 09:05");
  });
});
