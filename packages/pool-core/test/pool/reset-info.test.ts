// Reset information: every format issue 3 lists, malformed values (ignored, so the default TTL applies) and the cap.
import { describe, expect, it } from "vitest";
import { parseDuration, type FailureReport } from "@credpool/pool-core";
import { computeFailureStatus, healthConfigSchema, parseResetInfo, type HeaderBag } from "../../src/pool/index.js";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const config = healthConfigSchema.parse({});

/** How long a 429 benches a credential (with another credential still available). */
function cooldownOf(failure: Partial<FailureReport>, overrides: Partial<typeof config> = {}): number | undefined {
  const status = computeFailureStatus(
    { status: 429, ...failure },
    { now: NOW, current: undefined, soleCredential: false, config: { ...config, ...overrides } },
  );
  return status?.until === undefined ? undefined : status.until - NOW;
}

describe("parseResetInfo: headers", () => {
  it.each<[string, HeaderBag, number]>([
    ["retry-after in whole seconds", { "retry-after": "30" }, 30 * SECOND],
    ["retry-after in fractional seconds", { "retry-after": "1.5" }, 1500],
    ["retry-after as an HTTP date", { "retry-after": new Date(NOW + 2 * MINUTE).toUTCString() }, 2 * MINUTE],
    ["retry-after whatever the header's case", { "Retry-After": "12" }, 12 * SECOND],
    ["retry-after given as a list of values", { "retry-after": ["7", "99"] }, 7 * SECOND],
    ["retry-after-ms", { "retry-after-ms": "1500" }, 1500],
    ["retry-after-ms ahead of retry-after", { "retry-after-ms": "250", "retry-after": "9" }, 250],
    [
      "anthropic-ratelimit-unified-reset as epoch seconds",
      { "anthropic-ratelimit-unified-reset": String((NOW + HOUR) / 1000) },
      HOUR,
    ],
    [
      "anthropic-ratelimit-unified-reset as an RFC 3339 date",
      { "anthropic-ratelimit-unified-reset": new Date(NOW + 5 * HOUR).toISOString() },
      5 * HOUR,
    ],
    [
      "anthropic-ratelimit-requests-reset",
      { "anthropic-ratelimit-requests-reset": new Date(NOW + 45 * SECOND).toISOString() },
      45 * SECOND,
    ],
    [
      "the latest of several anthropic-ratelimit-*-reset headers",
      {
        "anthropic-ratelimit-requests-reset": new Date(NOW + 10 * SECOND).toISOString(),
        "anthropic-ratelimit-tokens-reset": new Date(NOW + 40 * SECOND).toISOString(),
        "anthropic-ratelimit-output-tokens-reset": new Date(NOW + 20 * SECOND).toISOString(),
      },
      40 * SECOND,
    ],
    ["x-ratelimit-reset-requests as 1m30s", { "x-ratelimit-reset-requests": "1m30s" }, 90 * SECOND],
    ["x-ratelimit-reset-tokens as 6ms", { "x-ratelimit-reset-tokens": "6ms" }, 6],
    ["x-ratelimit-reset-tokens as 2.5s", { "x-ratelimit-reset-tokens": "2.5s" }, 2500],
    [
      "x-ratelimit-reset-requests as 1h2m3s",
      { "x-ratelimit-reset-requests": "1h2m3s" },
      HOUR + 2 * MINUTE + 3 * SECOND,
    ],
    [
      "the longer of x-ratelimit-reset-requests and x-ratelimit-reset-tokens",
      { "x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s" },
      6 * MINUTE,
    ],
  ])("reads %s", (_case, headers, expected) => {
    expect(parseResetInfo(headers, undefined, NOW)).toBe(expected);
  });

  it("prefers a header to the message text", () => {
    expect(parseResetInfo({ "retry-after": "3" }, "please retry after 300 seconds", NOW)).toBe(3 * SECOND);
  });
});

describe("parseResetInfo: message text", () => {
  it.each<[string, number]>([
    ["Rate limited. Please retry after 20 seconds.", 20 * SECOND],
    ["retry after 7", 7 * SECOND],
    ["Retry-After: 10", 10 * SECOND],
    ["please retry in 2 minutes", 2 * MINUTE],
    ["Please try again in 1.5s.", 1500],
    ["Your usage limit resets in 4hr 5min.", 4 * HOUR + 5 * MINUTE],
    ["quotaResetDelay: 500ms", 500],
    ['{"error":{"details":[{"quotaResetDelay": "3.5s"}]}}', 3500],
  ])("reads %j", (message, expected) => {
    expect(parseResetInfo(undefined, message, NOW)).toBe(expected);
  });
});

describe("parseResetInfo: malformed values are ignored", () => {
  it.each<[string, HeaderBag | undefined, string | undefined]>([
    ["a retry-after word", { "retry-after": "soon" }, undefined],
    ["a negative retry-after", { "retry-after": "-5" }, undefined],
    ["an empty retry-after", { "retry-after": "" }, undefined],
    ["retry-after in exponent notation", { "retry-after": "1e3" }, undefined],
    ["retry-after: Infinity", { "retry-after": "Infinity" }, undefined],
    ["a retry-after date in the past", { "retry-after": new Date(NOW - MINUTE).toUTCString() }, undefined],
    ["a non-numeric retry-after-ms", { "retry-after-ms": "abc" }, undefined],
    ["an unparseable unified reset", { "anthropic-ratelimit-unified-reset": "not-a-date" }, undefined],
    ["a unified reset in the past", { "anthropic-ratelimit-unified-reset": "123" }, undefined],
    ["an unknown duration unit", { "x-ratelimit-reset-requests": "1x" }, undefined],
    ["a duration with a trailing bare number", { "x-ratelimit-reset-tokens": "1m30" }, undefined],
    ["a message with no number", undefined, "retry after a while"],
    ["a message with a broken number", undefined, "retry after 1.2.3 seconds"],
    ["a message with no reset at all", undefined, "overloaded_error"],
  ])("returns undefined for %s", (_case, headers, message) => {
    expect(parseResetInfo(headers, message, NOW)).toBeUndefined();
  });

  it("falls through a malformed header to a valid one", () => {
    expect(parseResetInfo({ "retry-after": "soon", "x-ratelimit-reset-requests": "20s" }, undefined, NOW)).toBe(
      20 * SECOND,
    );
  });
});

describe("parseDuration", () => {
  it.each<[string, number | undefined]>([
    ["1m30s", 90 * SECOND],
    ["6ms", 6],
    ["2.5s", 2500],
    ["4hr 5min", 4 * HOUR + 5 * MINUTE],
    ["1.5h", 1.5 * HOUR],
    ["1 day", 24 * HOUR],
    ["", undefined],
    ["m", undefined],
    ["1m30", undefined],
    ["1e3s", undefined],
    ["30 parsecs", undefined],
  ])("parses %j as %s", (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });
});

describe("reset information in a cooldown", () => {
  it("uses the provider's reset time instead of the default", () => {
    expect(cooldownOf({ headers: { "retry-after": "17" } })).toBe(17 * SECOND);
    expect(cooldownOf({ message: "quotaResetDelay: 500ms" })).toBe(500);
  });

  it.each<[string, Partial<FailureReport>]>([
    ["a malformed retry-after", { headers: { "retry-after": "soon" } }],
    ["a malformed x-ratelimit-reset-requests", { headers: { "x-ratelimit-reset-requests": "fast" } }],
    ["a malformed message", { message: "retry after a while" }],
  ])("applies the default 60 s rate-limit cooldown after %s", (_case, failure) => {
    expect(cooldownOf(failure)).toBe(60 * SECOND);
  });

  it("caps a reset time over 24 h at 24 h by default", () => {
    expect(cooldownOf({ headers: { "retry-after": String(3 * 24 * 3600) } })).toBe(24 * HOUR);
    expect(cooldownOf({ message: "retry after 99999999999999999999999999 seconds" })).toBe(24 * HOUR);
    expect(
      cooldownOf({ headers: { "anthropic-ratelimit-unified-reset": new Date(NOW + 30 * 24 * HOUR).toISOString() } }),
    ).toBe(24 * HOUR);
  });

  it("caps at a configured maximum", () => {
    expect(cooldownOf({ headers: { "retry-after": "7200" } }, { maxCooldownMs: HOUR })).toBe(HOUR);
    expect(cooldownOf({ headers: { "retry-after": "1800" } }, { maxCooldownMs: HOUR })).toBe(30 * MINUTE);
  });
});

// Issue 13, 6b: wire samples as the providers send them (formats learned from the test suites of hermes-agent and
// claude-relay-service, and the providers' documentation).
const epochSeconds = (at: number) => String(Math.floor(at / 1000));

describe("parseResetInfo: x-ratelimit-reset as a duration, epoch seconds or epoch milliseconds", () => {
  it.each<[string, HeaderBag, number]>([
    [
      "OpenRouter: X-RateLimit-Reset in epoch milliseconds",
      { "X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(NOW + 45 * SECOND) },
      45 * SECOND,
    ],
    [
      "epoch seconds in x-ratelimit-reset (the GitHub-style convention some OpenAI-compatible hosts follow)",
      { "x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": epochSeconds(NOW + 90 * SECOND) },
      90 * SECOND,
    ],
    [
      "Anthropic usage limit relayed with x-ratelimit-reset: 3600 (bare seconds)",
      { "x-ratelimit-reset": "3600" },
      HOUR,
    ],
    ["Go duration 20ms", { "x-ratelimit-reset-requests": "20ms" }, 20],
    ["Go duration 6m0s", { "x-ratelimit-reset-tokens": "6m0s" }, 6 * MINUTE],
    ["Go duration 1h0m0s", { "x-ratelimit-reset-requests": "1h0m0s" }, HOUR],
    [
      "a suffixed bucket: x-ratelimit-reset-requests-1h with its remaining at 0",
      { "x-ratelimit-remaining-requests-1h": "0", "x-ratelimit-reset-requests-1h": "20m" },
      20 * MINUTE,
    ],
  ])("%s", (_case, headers, expected) => {
    expect(parseResetInfo(headers, undefined, NOW)).toBe(expected);
  });
});

describe("parseResetInfo: only the bucket that ran out counts", () => {
  it.each<[string, HeaderBag, number]>([
    [
      "OpenAI: requests bucket empty (resets 1s), tokens bucket has room (resets 6m0s)",
      {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "6m0s",
      },
      SECOND,
    ],
    [
      "OpenAI: tokens bucket empty (resets 6m0s), requests bucket has room (resets 1s)",
      {
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
      },
      6 * MINUTE,
    ],
    [
      "Groq: requests bucket empty (2m59.56s), tokens bucket has room (7.66s)",
      {
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-limit-tokens": "18000",
        "x-ratelimit-remaining-tokens": "17997",
        "x-ratelimit-reset-tokens": "7.66s",
      },
      2 * MINUTE + 59_560,
    ],
    [
      "Cerebras: per-minute tokens empty (11.38 s), per-day requests have room (33011.38 s)",
      {
        "x-ratelimit-limit-requests-day": "14400",
        "x-ratelimit-remaining-requests-day": "14000",
        "x-ratelimit-reset-requests-day": "33011.38",
        "x-ratelimit-limit-tokens-minute": "60000",
        "x-ratelimit-remaining-tokens-minute": "0",
        "x-ratelimit-reset-tokens-minute": "11.38",
      },
      11_380,
    ],
    [
      "Anthropic API key: requests empty (10 s), tokens have room (40 s)",
      {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": new Date(NOW + 10 * SECOND).toISOString(),
        "anthropic-ratelimit-tokens-limit": "80000",
        "anthropic-ratelimit-tokens-remaining": "50000",
        "anthropic-ratelimit-tokens-reset": new Date(NOW + 40 * SECOND).toISOString(),
      },
      10 * SECOND,
    ],
    [
      "Anthropic subscription: 5h window rejected (4 h), 7d window allowed (3 days)",
      {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 4 * HOUR),
        "anthropic-ratelimit-unified-5h-utilization": "1.0",
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-reset": epochSeconds(NOW + 72 * HOUR),
        "anthropic-ratelimit-unified-7d-utilization": "0.59",
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-disabled-reason": "out_of_credits",
      },
      4 * HOUR,
    ],
    [
      "Anthropic subscription: 7d window rejected, named only by the representative claim",
      {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-representative-claim": "seven_day",
        "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 2 * HOUR),
        "anthropic-ratelimit-unified-7d-reset": epochSeconds(NOW + 50 * HOUR),
        "anthropic-ratelimit-unified-reset": epochSeconds(NOW + 50 * HOUR),
      },
      50 * HOUR,
    ],
    [
      "Anthropic subscription: the 7d_oi window rejected while 5h and 7d are allowed",
      {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-representative-claim": "seven_day_overage_included",
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-reset": epochSeconds(NOW + 100 * HOUR),
        "anthropic-ratelimit-unified-7d_oi-status": "rejected",
        "anthropic-ratelimit-unified-7d_oi-reset": epochSeconds(NOW + 30 * HOUR),
        "anthropic-ratelimit-unified-7d_oi-utilization": "1.02",
      },
      30 * HOUR,
    ],
  ])("%s", (_case, headers, expected) => {
    expect(parseResetInfo(headers, undefined, NOW)).toBe(expected);
  });

  it("ignores the unified windows' resets when Anthropic says they still allow requests (a per-minute 429)", () => {
    const headers = {
      "anthropic-ratelimit-unified-status": "allowed",
      "anthropic-ratelimit-unified-5h-status": "allowed",
      "anthropic-ratelimit-unified-5h-utilization": "0.31",
      "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 4 * HOUR),
      "anthropic-ratelimit-unified-reset": epochSeconds(NOW + 4 * HOUR),
      "anthropic-ratelimit-unified-representative-claim": "five_hour",
    };
    expect(parseResetInfo(headers, undefined, NOW)).toBeUndefined();
    expect(cooldownOf({ headers })).toBe(MINUTE);
  });

  it("benches an OpenRouter key for its per-minute reset, not the 24 h cap", () => {
    const headers = {
      "X-RateLimit-Limit": "20",
      "X-RateLimit-Remaining": "0",
      "X-RateLimit-Reset": String(NOW + 45 * SECOND),
    };
    expect(
      cooldownOf({
        headers,
        message: '{"error":{"message":"Rate limit exceeded: limit_rpm/google/gemini-2.5-pro","code":429}}',
      }),
    ).toBe(45 * SECOND);
  });

  it("falls back to default cooldowns when the empty bucket's reset is missing, instead of another bucket's", () => {
    expect(
      parseResetInfo(
        {
          "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-remaining-tokens": "100",
          "x-ratelimit-reset-tokens": "6m0s",
        },
        undefined,
        NOW,
      ),
    ).toBeUndefined();
  });
});

describe("parseResetInfo: absolute times and JSON fields in the message", () => {
  // NOW is 2025-06-01T12:00:00Z: 07:00 in Chicago (CDT), 17:30 in Kolkata, 02:00 in Honolulu.
  it.each<[string, string, number]>([
    [
      "Claude subscription limit, later today in Chicago",
      "5-hour limit reached ∙ resets 9:37pm (America/Chicago)",
      14 * HOUR + 37 * MINUTE,
    ],
    [
      "Claude subscription limit, already past today in Chicago: tomorrow",
      "You've hit your limit · resets 6am (America/Chicago)",
      23 * HOUR,
    ],
    [
      "Claude subscription limit in Kolkata",
      "Claude usage limit reached. resets 11pm (Asia/Kolkata)",
      5 * HOUR + 30 * MINUTE,
    ],
    [
      "Claude subscription limit at midnight in Honolulu",
      "You've hit your limit · resets 12am (Pacific/Honolulu)",
      22 * HOUR,
    ],
    ["Claude Code's epoch after the bar", `Claude AI usage limit reached|${epochSeconds(NOW + 3 * HOUR)}`, 3 * HOUR],
    ["an ISO time after 'resets at'", "usage limit reached; resets at 2025-06-01T15:30:00Z", 3 * HOUR + 30 * MINUTE],
    ["an ISO time with an offset", "Usage limit reached, resets at 2025-06-01T10:00:00-05:00", 3 * HOUR],
    [
      "Codex usage_limit_reached body with resets_in_seconds",
      JSON.stringify({
        error: {
          type: "usage_limit_reached",
          message: "The usage limit has been reached",
          plan_type: "plus",
          resets_in_seconds: 5400,
        },
      }),
      90 * MINUTE,
    ],
    [
      "Codex usage_limit_reached body with only resets_at (epoch seconds)",
      JSON.stringify({
        error: {
          type: "usage_limit_reached",
          message: "The usage limit has been reached",
          resets_at: Number(epochSeconds(NOW + 2 * HOUR)),
        },
      }),
      2 * HOUR,
    ],
    [
      "Anthropic-style usage_limit_reached body with resets_at as RFC 3339",
      JSON.stringify({
        error: {
          type: "usage_limit_reached",
          message: "Your account has reached its usage limit.",
          resets_at: "2025-06-01T20:00:00Z",
        },
      }),
      8 * HOUR,
    ],
    [
      "a relay's body with retry_after in seconds",
      JSON.stringify({
        error: { type: "usage_limit_reached", message: "Your account has reached its usage limit.", retry_after: 3600 },
      }),
      HOUR,
    ],
    [
      "an SDK error string wrapping the JSON body",
      `429 ${JSON.stringify({ error: { type: "usage_limit_reached", resets_in_seconds: 120 } })}`,
      2 * MINUTE,
    ],
  ])("%s", (_case, message, expected) => {
    expect(parseResetInfo(undefined, message, NOW)).toBe(expected);
  });

  it("reads a clock time across a daylight-saving change in the named zone", () => {
    // 2025-03-08 10:00 EST; New York moves to EDT at 02:00 the next morning, so 9am tomorrow is 22 h away, not 23.
    const beforeDst = Date.parse("2025-03-08T15:00:00Z");
    expect(parseResetInfo(undefined, "You've hit your limit · resets 9am (America/New_York)", beforeDst)).toBe(
      22 * HOUR,
    );
  });

  it.each<[string, string]>([
    ["an unknown time zone", "resets 9:37pm (Mars/Olympus_Mons)"],
    ["an impossible clock time", "resets 13pm (America/Chicago)"],
    ["a bare number after 'resets'", "resets 5 (America/Chicago)"],
    ["a resets_in_seconds that is not a number", '{"error":{"type":"usage_limit_reached","resets_in_seconds":"soon"}}'],
  ])("ignores %s", (_case, message) => {
    expect(parseResetInfo(undefined, message, NOW)).toBeUndefined();
  });

  it("benches a Codex account until its usage limit resets", () => {
    const message = JSON.stringify({
      error: { type: "usage_limit_reached", message: "The usage limit has been reached", resets_in_seconds: 7200 },
    });
    expect(cooldownOf({ message })).toBe(2 * HOUR);
  });
});
