// What `openPool` accepts, checked before it opens anything: a misspelt option must not quietly open the default
// pool (see test/pool/options.test.ts).
import { z } from "zod";
import { functionOption, parseOptions } from "../options.js";
import type { PoolBackend } from "../store/index.js";
import { fileBackendOptionsSchema } from "../store/file-backend.js";
import { healthConfigSchema } from "./health.js";

const DEFAULT_LEASE_TTL_MS = 10 * 60_000;

export const openPoolOptionsSchema = z.object({
  backend: z
    .custom<PoolBackend>((value) => typeof value === "object" && value !== null, "must be a pool backend")
    .optional(),
  file: fileBackendOptionsSchema.optional(),
  health: healthConfigSchema.prefault({}),
  defaultLeaseTtlMs: z
    .number()
    .int()
    .positive()
    .max(24 * 3_600_000)
    .default(DEFAULT_LEASE_TTL_MS),
  usageFlushMs: z.number().int().positive().max(60_000).default(1000),
  holder: z.string().min(1).optional(),
  refresher: functionOption.optional(),
  onEvent: functionOption.optional(),
  now: functionOption.optional(),
});

/** The settings `openPool` derives from its options; the rest (backend, hooks) it takes as given. */
export function parsePoolOptions(
  options: unknown,
): Pick<z.output<typeof openPoolOptionsSchema>, "defaultLeaseTtlMs" | "usageFlushMs" | "health"> {
  const { defaultLeaseTtlMs, usageFlushMs, health } = parseOptions(
    openPoolOptionsSchema,
    options ?? {},
    "pool options",
  );
  return { defaultLeaseTtlMs, usageFlushMs, health };
}
