// Turns what a script knows about its request (an HTTP status, a retry-after, a model) into a lease outcome.
import { PoolError, parseDuration, type LeaseOutcome } from "@credpool/pool-core";
import type { OptionSpec } from "./command.js";

/** The flags `release` and `report` share to describe what the provider answered (besides --status). */
export const OUTCOME_DETAIL_OPTIONS = {
  "retry-after": { type: "string", value: "S", description: "the provider's retry-after, in seconds or like 2m" },
  model: { type: "string", value: "M", description: "the model the request was for" },
  message: { type: "string", value: "TEXT", description: "the provider's error text (keys in it are scrubbed)" },
} as const satisfies Record<string, OptionSpec>;

export interface OutcomeInput {
  readonly status: number;
  /** Seconds, or a duration such as "90s" or "2m". */
  readonly retryAfter?: string | undefined;
  readonly model?: string | undefined;
  readonly message?: string | undefined;
}

/** 2xx and 3xx are success; anything else is a failure the pool classifies (401, 402, 429, 5xx, ...). */
export function outcomeFrom(input: OutcomeInput): LeaseOutcome {
  if (input.status >= 200 && input.status < 400) return "ok";
  let retryAfterSeconds: number | undefined;
  if (input.retryAfter !== undefined) {
    const ms = /^\d+(\.\d+)?$/.test(input.retryAfter)
      ? Number(input.retryAfter) * 1000
      : parseDuration(input.retryAfter);
    if (ms === undefined || ms < 0) {
      throw new PoolError(
        "E_USAGE",
        `--retry-after takes seconds or a duration like 90s or 2m, got "${input.retryAfter}".`,
      );
    }
    retryAfterSeconds = Math.ceil(ms / 1000);
  }
  return {
    error: {
      status: input.status,
      ...(retryAfterSeconds === undefined ? {} : { headers: { "retry-after": String(retryAfterSeconds) } }),
      ...(input.model === undefined ? {} : { model: input.model }),
      ...(input.message === undefined ? {} : { message: input.message }),
    },
  };
}
