// The cooldown rules of issue 3 as a table: each status class, sole credential, billing, terminal reasons,
// escalation, and no escalation inside an open window.
import { describe, expect, it } from "vitest";
import type { CredentialStatus, FailureReport } from "@credpool/pool-core";
import { TERMINAL_REASONS, classifyFailure, computeFailureStatus, healthConfigSchema } from "../../src/pool/index.js";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const config = healthConfigSchema.parse({});

function statusAfter(
  failure: FailureReport,
  { current, sole = false, now = NOW }: { current?: CredentialStatus; sole?: boolean; now?: number } = {},
): CredentialStatus | undefined {
  return computeFailureStatus(failure, { now, current, soleCredential: sole, config });
}

function cooldownAfter(failure: FailureReport, context: { current?: CredentialStatus; sole?: boolean } = {}) {
  const status = statusAfter(failure, context);
  expect(status?.state).toBe("exhausted");
  return (status?.until ?? NaN) - NOW;
}

describe("cooldown without reset information", () => {
  it.each<[string, FailureReport, number, number]>([
    // case, failure, cooldown with another credential available, cooldown as the sole remaining credential
    ["401", { status: 401 }, 5 * MINUTE, MINUTE],
    ["402", { status: 402 }, 24 * HOUR, 24 * HOUR],
    [
      "a billing reason on a 400",
      { status: 400, message: "Your credit balance is too low to access the API" },
      24 * HOUR,
      24 * HOUR,
    ],
    ["insufficient_quota on a 429", { status: 429, reason: "insufficient_quota" }, 24 * HOUR, 24 * HOUR],
    ["a first 429", { status: 429 }, MINUTE, MINUTE],
    ["500", { status: 500 }, MINUTE, MINUTE],
    ["502", { status: 502 }, MINUTE, MINUTE],
    ["503", { status: 503 }, MINUTE, MINUTE],
    ["529 (overloaded)", { status: 529 }, MINUTE, MINUTE],
    ["a timeout (status 0)", { status: 0, message: "request timed out" }, MINUTE, MINUTE],
  ])(
    "%s benches for the class default, capped at 60 s for the sole credential except billing",
    (_case, failure, normal, sole) => {
      expect(cooldownAfter(failure)).toBe(normal);
      expect(cooldownAfter(failure, { sole: true })).toBe(sole);
    },
  );

  it("leaves the credential alone after a 400 that is the request's fault", () => {
    expect(statusAfter({ status: 400, message: "max_tokens: must be positive" })).toBeUndefined();
    expect(statusAfter({ status: 404 })).toBeUndefined();
  });

  it("takes the defaults from configuration", () => {
    const custom = healthConfigSchema.parse({
      unauthorizedMs: 2 * SECOND,
      billingMs: HOUR,
      rateLimitBaseMs: 10 * SECOND,
      serverErrorMs: 3 * SECOND,
    });
    const until = (failure: FailureReport) =>
      (computeFailureStatus(failure, { now: NOW, current: undefined, soleCredential: false, config: custom })?.until ??
        NaN) - NOW;
    expect(until({ status: 401 })).toBe(2 * SECOND);
    expect(until({ status: 402 })).toBe(HOUR);
    expect(until({ status: 429 })).toBe(10 * SECOND);
    expect(until({ status: 503 })).toBe(3 * SECOND);
  });

  it("records what happened, with secrets scrubbed from the message", () => {
    const status = statusAfter({
      status: 429,
      model: "claude-opus-4",
      message: "rate limited for key sk-ant-api03-abcdefghijklmnop",
    });
    expect(status).toMatchObject({
      state: "exhausted",
      since: NOW,
      httpStatus: 429,
      reason: "rate_limit",
      model: "claude-opus-4",
    });
    expect(status?.message).toContain("rate limited");
    expect(status?.message).not.toContain("abcdefghijklmnop");
  });

  it("lets the provider's reset time beat the sole-credential cap", () => {
    expect(cooldownAfter({ status: 429, headers: { "retry-after": "300" } }, { sole: true })).toBe(5 * MINUTE);
  });
});

describe("terminal reasons", () => {
  it.each(TERMINAL_REASONS.map((reason) => [reason]))("%s makes the credential dead, whatever the status", (reason) => {
    for (const failure of [
      { status: 400, reason },
      { status: 401, message: `{"error":"${reason}","error_description":"..."}` },
      { status: 429, reason },
    ]) {
      const status = statusAfter(failure);
      expect(status).toMatchObject({ state: "dead", reason });
      expect(status?.until).toBeUndefined();
    }
  });

  it("lists the six reasons of issue 3 and the two refresh-token reasons of issue 13", () => {
    expect([...TERMINAL_REASONS].sort()).toEqual([
      "invalid_api_key",
      "invalid_grant",
      "invalid_refresh_token",
      "refresh_token_expired",
      "refresh_token_reused",
      "token_invalidated",
      "token_revoked",
      "unauthorized_client",
    ]);
  });
});

describe("429 escalation", () => {
  it("starts at 60 s and doubles per consecutive failure up to 60 min", () => {
    const ladder: number[] = [];
    let current: CredentialStatus | undefined;
    let now = NOW;
    for (let i = 0; i < 9; i++) {
      const next = statusAfter({ status: 429 }, { current, now });
      ladder.push((next?.until ?? NaN) - now);
      current = next;
      // The next failure arrives just after the previous window closed: consecutive, not concurrent.
      now = (next?.until ?? now) + 1;
    }
    expect(ladder).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60].map((minutes) => minutes * MINUTE));
    expect(current?.strikes).toBe(9);
  });

  it("starts again at 60 s after a failure of another class", () => {
    const server: CredentialStatus = {
      state: "exhausted",
      since: NOW - 2 * MINUTE,
      until: NOW - MINUTE,
      reason: "server",
      strikes: 1,
    };
    expect(cooldownAfter({ status: 429 }, { current: server })).toBe(MINUTE);
  });

  it("escalates but stays within 60 s for the sole credential", () => {
    const struck: CredentialStatus = {
      state: "exhausted",
      since: NOW - 10 * MINUTE,
      until: NOW - MINUTE,
      reason: "rate_limit",
      strikes: 4,
    };
    const next = statusAfter({ status: 429 }, { current: struck, sole: true });
    expect(next?.strikes).toBe(5);
    expect((next?.until ?? NaN) - NOW).toBe(MINUTE);
  });
});

describe("inside an open window", () => {
  const open: CredentialStatus = {
    state: "exhausted",
    since: NOW - 30 * SECOND,
    until: NOW + 90 * SECOND,
    reason: "rate_limit",
    httpStatus: 429,
    strikes: 2,
  };

  it("does not escalate a 429 again (in-flight requests of the same burst)", () => {
    const next = statusAfter({ status: 429 }, { current: open });
    expect(next).toEqual(open);
  });

  it("does not shorten a billing cooldown when an in-flight request then fails with a 5xx or 401", () => {
    const billing: CredentialStatus = {
      state: "exhausted",
      since: NOW - HOUR,
      until: NOW + 23 * HOUR,
      reason: "billing",
      strikes: 1,
    };
    for (const failure of [{ status: 503 }, { status: 401 }, { status: 429 }, { status: 0 }]) {
      expect(statusAfter(failure, { current: billing })?.until).toBe(billing.until);
    }
  });

  it("lengthens the window when a worse failure arrives (402 during a rate-limit bench)", () => {
    expect(cooldownAfter({ status: 402 }, { current: open })).toBe(24 * HOUR);
  });

  it("still kills the credential on a terminal reason", () => {
    expect(statusAfter({ status: 401, reason: "token_revoked" }, { current: open })?.state).toBe("dead");
  });
});

// Issue 13, 6b: what the providers actually send, with the status code that does not tell the whole story.
describe("classification beyond the status code", () => {
  const body = (value: unknown) => JSON.stringify(value);
  it.each<[string, FailureReport, string, number | undefined]>([
    // provider and wire sample, failure, class, cooldown (undefined: the credential is left alone)
    [
      "OpenRouter 429: out of credits",
      { status: 429, message: body({ error: { message: "Insufficient credits remaining.", code: 429 } }) },
      "billing",
      24 * HOUR,
    ],
    [
      "Nous Portal 404: model not on the Free Tier",
      {
        status: 404,
        model: "gpt-5",
        message: body({
          status: 404,
          message:
            "Model 'gpt-5' is not available on the Free Tier. Upgrade at https://portal.nousresearch.com or pick a free model.",
        }),
      },
      "billing",
      24 * HOUR,
    ],
    [
      "Nous Portal 404: paid model without credits",
      {
        status: 404,
        message: body({
          status: 404,
          message:
            "Model 'openai/gpt-5.5-pro' requires available credits. Your account balance is too low to use paid models.",
        }),
      },
      "billing",
      24 * HOUR,
    ],
    ["Groq 429: Monthly quota reached", { status: 429, message: "Monthly quota reached." }, "billing", 24 * HOUR],
    [
      "Anthropic 400: credit balance too low",
      {
        status: 400,
        message: body({
          type: "error",
          error: {
            type: "invalid_request_error",
            message: "Your credit balance is too low to access the Anthropic API.",
          },
        }),
      },
      "billing",
      24 * HOUR,
    ],
    [
      "Z.AI 429: temporarily overloaded",
      { status: 429, message: "The service may be temporarily overloaded, please try again later" },
      "overloaded",
      undefined,
    ],
    [
      "an Anthropic-compatible relay 429 with an overloaded_error body",
      { status: 429, message: body({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }) },
      "overloaded",
      undefined,
    ],
    [
      "OpenRouter 400: rate limit exceeded on this model",
      { status: 400, message: body({ error: { message: "rate limit exceeded on this model" } }) },
      "rate_limit",
      MINUTE,
    ],
    [
      "Alibaba DashScope 400: request rate increased too quickly",
      {
        status: 400,
        message:
          "Upstream error from Alibaba: Request rate increased too quickly. To ensure system stability, please adjust your client logic to scale requests more smoothly over time.",
      },
      "rate_limit",
      MINUTE,
    ],
    [
      "Anthropic 429: extra usage required for long context",
      {
        status: 429,
        model: "claude-sonnet-4",
        message: body({
          type: "error",
          error: {
            type: "rate_limit_error",
            message: "Extra usage is required for long context requests over 200k tokens",
          },
        }),
      },
      "request",
      undefined,
    ],
    [
      "OpenRouter 429: an upstream provider's limit relayed as 'Provider returned error'",
      {
        status: 429,
        model: "deepseek/deepseek-r1:free",
        message: body({
          error: {
            message: "Provider returned error",
            code: 429,
            metadata: {
              raw: "deepseek/deepseek-r1:free is temporarily rate-limited upstream. Please retry shortly.",
              provider_name: "Chutes",
            },
          },
        }),
      },
      "rate_limit",
      MINUTE,
    ],
    [
      "OpenRouter 429: daily free-model limit that mentions credits stays a rate limit",
      {
        status: 429,
        message: body({
          error: {
            message:
              "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
            code: 429,
          },
        }),
      },
      "rate_limit",
      MINUTE,
    ],
    [
      "OAuth resource server 401 invalid_token: a reason to refresh, not to give up",
      { status: 401, message: body({ error: "invalid_token", error_description: "The access token expired" }) },
      "unauthorized",
      5 * MINUTE,
    ],
    ["a plain 400 about the request", { status: 400, message: "max_tokens: must be positive" }, "request", undefined],
  ])("%s", (_case, failure, kind, cooldown) => {
    expect(classifyFailure(failure)).toBe(kind);
    const status = statusAfter(failure);
    if (cooldown === undefined) {
      expect(status).toBeUndefined();
    } else {
      expect(status).toMatchObject({ state: "exhausted", reason: kind });
      expect((status?.until ?? NaN) - NOW).toBe(cooldown);
    }
  });

  it("does not add a strike for an overloaded 429, so the next real 429 still starts the ladder at 60 s", () => {
    const struck: CredentialStatus = {
      state: "exhausted",
      since: NOW - 10 * MINUTE,
      until: NOW - MINUTE,
      reason: "rate_limit",
      strikes: 2,
    };
    expect(
      statusAfter({ status: 429, message: "The service may be temporarily overloaded" }, { current: struck }),
    ).toBeUndefined();
  });

  it.each<[string, FailureReport, string]>([
    [
      "Anthropic token endpoint 400 invalid_grant",
      {
        status: 400,
        message: body({ error: "invalid_grant", error_description: "Refresh token not found or invalid" }),
      },
      "invalid_grant",
    ],
    [
      "a token endpoint 400 invalid_refresh_token",
      {
        status: 400,
        message: body({ error: "invalid_refresh_token", error_description: "The refresh token is invalid" }),
      },
      "invalid_refresh_token",
    ],
    [
      "OpenAI auth 401 refresh_token_expired",
      {
        status: 401,
        message: body({
          error: {
            message: "Your refresh token has expired. Please try signing in again.",
            code: "refresh_token_expired",
          },
        }),
      },
      "refresh_token_expired",
    ],
  ])("%s makes the credential dead", (_case, failure, reason) => {
    expect(statusAfter(failure)).toMatchObject({ state: "dead", reason });
  });
});
