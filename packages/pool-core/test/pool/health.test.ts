// The cooldown rules of issue 3 as a table: each status class, sole credential, billing, terminal reasons,
// escalation, and no escalation inside an open window.
import { describe, expect, it } from "vitest";
import type { CredentialStatus, FailureReport } from "@credpool/pool-core";
import { TERMINAL_REASONS, computeFailureStatus, healthConfigSchema } from "../../src/pool/index.js";

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
    ["a billing reason on a 400", { status: 400, message: "Your credit balance is too low to access the API" }, 24 * HOUR, 24 * HOUR],
    ["insufficient_quota on a 429", { status: 429, reason: "insufficient_quota" }, 24 * HOUR, 24 * HOUR],
    ["a first 429", { status: 429 }, MINUTE, MINUTE],
    ["500", { status: 500 }, MINUTE, MINUTE],
    ["502", { status: 502 }, MINUTE, MINUTE],
    ["503", { status: 503 }, MINUTE, MINUTE],
    ["529 (overloaded)", { status: 529 }, MINUTE, MINUTE],
    ["a timeout (status 0)", { status: 0, message: "request timed out" }, MINUTE, MINUTE],
  ])("%s benches for the class default, capped at 60 s for the sole credential except billing", (_case, failure, normal, sole) => {
    expect(cooldownAfter(failure)).toBe(normal);
    expect(cooldownAfter(failure, { sole: true })).toBe(sole);
  });

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
      (computeFailureStatus(failure, { now: NOW, current: undefined, soleCredential: false, config: custom })?.until ?? NaN) -
      NOW;
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
    expect(status).toMatchObject({ state: "exhausted", since: NOW, httpStatus: 429, reason: "rate_limit", model: "claude-opus-4" });
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

  it("lists exactly the six reasons of issue 3", () => {
    expect([...TERMINAL_REASONS].sort()).toEqual(
      ["invalid_api_key", "invalid_grant", "refresh_token_reused", "token_invalidated", "token_revoked", "unauthorized_client"],
    );
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
    const server: CredentialStatus = { state: "exhausted", since: NOW - 2 * MINUTE, until: NOW - MINUTE, reason: "server", strikes: 1 };
    expect(cooldownAfter({ status: 429 }, { current: server })).toBe(MINUTE);
  });

  it("escalates but stays within 60 s for the sole credential", () => {
    const struck: CredentialStatus = { state: "exhausted", since: NOW - 10 * MINUTE, until: NOW - MINUTE, reason: "rate_limit", strikes: 4 };
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
    const billing: CredentialStatus = { state: "exhausted", since: NOW - HOUR, until: NOW + 23 * HOUR, reason: "billing", strikes: 1 };
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
