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
    ["x-ratelimit-reset-requests as 1h2m3s", { "x-ratelimit-reset-requests": "1h2m3s" }, HOUR + 2 * MINUTE + 3 * SECOND],
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
