// What a client token may do on the proxy routes: providers, models, concurrency, requests per minute and how long a
// request may wait for a credential. A child token's limits are never wider than its parent's (narrowLimits).
import { PoolError } from "@credpool/pool-core";
import { z } from "zod";

/** A model name, or a simple glob where `*` stands for any run of characters (`claude-sonnet-*`). */
const modelPattern = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.:@/*-]+$/, "a model name or glob takes letters, digits, . : @ / _ - and *");

/** Absent fields mean "no limit". Loose, so a file written by a newer credpool still loads. */
export const tokenLimitsSchema = z.looseObject({
  providers: z
    .array(
      z
        .string()
        .min(1)
        .max(80)
        .regex(/^[a-z0-9][\w:.-]*$/, "a provider name like anthropic, openai or custom:<name>"),
    )
    .min(1)
    .max(64)
    .optional(),
  models: z.array(modelPattern).min(1).max(64).optional(),
  maxConcurrent: z.number().int().positive().max(100_000).optional(),
  rpm: z.number().int().positive().max(1_000_000).optional(),
  /** Overrides proxy.maxWaitMs for this token's requests. */
  maxWaitMs: z.number().int().nonnegative().max(3_600_000).optional(),
});

export type TokenLimits = z.infer<typeof tokenLimitsSchema>;

const globs = new Map<string, RegExp>();

function globRegex(pattern: string): RegExp {
  let regex = globs.get(pattern);
  if (!regex) {
    const source = pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*");
    regex = new RegExp(`^${source}$`);
    if (globs.size < 1000) globs.set(pattern, regex);
  }
  return regex;
}

/** Whether `model` is matched by `pattern` (exact, or a glob with `*`). */
export function modelMatches(pattern: string, model: string): boolean {
  return pattern.includes("*") ? globRegex(pattern).test(model) : pattern === model;
}

/**
 * Whether every model `child` can match is matched by `parent`. Reading the child's `*` as a literal character is
 * enough: a parent without a literal `*` can only match it with one of its own `*`, which then absorbs whatever the
 * child's `*` stands for.
 */
function patternCovered(parent: string, child: string): boolean {
  return parent.includes("*") ? globRegex(parent).test(child) : parent === child;
}

function wider(field: string, message: string): PoolError {
  return new PoolError("E_FORBIDDEN", `${field}: ${message}`, { details: { field } });
}

function narrowNumber(
  field: "maxConcurrent" | "rpm" | "maxWaitMs",
  parent: number | undefined,
  requested: number | undefined,
): number | undefined {
  if (requested === undefined) return parent;
  if (parent !== undefined && requested > parent)
    throw wider(field, `${requested} is wider than the parent's ${parent}.`);
  return requested;
}

/**
 * A child's limits: what it asked for, each no wider than the parent's, and the parent's where it asked for nothing.
 * Asking for more than the parent has is refused (E_FORBIDDEN naming the field), never silently narrowed.
 */
export function narrowLimits(parent: TokenLimits | undefined, requested: TokenLimits): TokenLimits {
  const result: TokenLimits = {};
  const providers = requested.providers ?? parent?.providers;
  if (requested.providers && parent?.providers) {
    const outside = requested.providers.filter((provider) => !parent.providers!.includes(provider));
    if (outside.length > 0)
      throw wider("providers", `${outside.join(", ")} not among the parent's (${parent.providers.join(", ")}).`);
  }
  if (providers) result.providers = [...new Set(providers)];
  const models = requested.models ?? parent?.models;
  if (requested.models && parent?.models) {
    const outside = requested.models.filter((model) => !parent.models!.some((mine) => patternCovered(mine, model)));
    if (outside.length > 0)
      throw wider("models", `${outside.join(", ")} not covered by the parent's (${parent.models.join(", ")}).`);
  }
  if (models) result.models = [...new Set(models)];
  const maxConcurrent = narrowNumber("maxConcurrent", parent?.maxConcurrent, requested.maxConcurrent);
  if (maxConcurrent !== undefined) result.maxConcurrent = maxConcurrent;
  const rpm = narrowNumber("rpm", parent?.rpm, requested.rpm);
  if (rpm !== undefined) result.rpm = rpm;
  const maxWaitMs = narrowNumber("maxWaitMs", parent?.maxWaitMs, requested.maxWaitMs);
  if (maxWaitMs !== undefined) result.maxWaitMs = maxWaitMs;
  return result;
}

/** One line for lists and logs: `providers=anthropic models=claude-* maxConcurrent=2 rpm=60`. */
export function describeLimits(limits: TokenLimits | undefined): string {
  if (!limits) return "";
  const parts: string[] = [];
  if (limits.providers) parts.push(`providers=${limits.providers.join(",")}`);
  if (limits.models) parts.push(`models=${limits.models.join(",")}`);
  if (limits.maxConcurrent !== undefined) parts.push(`maxConcurrent=${limits.maxConcurrent}`);
  if (limits.rpm !== undefined) parts.push(`rpm=${limits.rpm}`);
  if (limits.maxWaitMs !== undefined) parts.push(`maxWaitMs=${limits.maxWaitMs}`);
  return parts.join(" ");
}
