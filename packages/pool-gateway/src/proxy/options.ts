// Proxy settings: the `proxy` section of config.json, validated before the gateway serves.
import { fromZodError } from "@credpool/pool-core";
import { z } from "zod";

const MiB = 1024 * 1024;

const baseUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

export const proxyConfigSchema = z.strictObject({
  /** Upstream base URL per provider (`anthropic`, `openai`, `openrouter`, `custom:<name>`); a credential's baseUrl wins. */
  upstreams: z.record(z.string().min(1), baseUrl).default({}),
  /** Credentials one request may try before its last upstream error is passed on. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  /** No new attempt starts this long after the request arrived. */
  deadlineMs: z.number().int().positive().max(3_600_000).default(120_000),
  /** Wait for a benched credential when the soonest recovers within this; otherwise answer 429 at once. */
  maxWaitMs: z.number().int().min(0).max(600_000).default(0),
  /** Request bodies are held up to this size so they can be sent again to the next credential. */
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .max(512 * MiB)
    .default(32 * MiB),
  connectTimeoutMs: z.number().int().positive().max(600_000).default(10_000),
  headersTimeoutMs: z.number().int().positive().max(3_600_000).default(600_000),
  bodyIdleTimeoutMs: z.number().int().positive().max(3_600_000).default(300_000),
  /** How much of a 200 SSE answer may be held while waiting for its first content event. */
  holdBytes: z
    .number()
    .int()
    .positive()
    .max(MiB)
    .default(16 * 1024),
  /** Error bodies are read whole (to classify them and pass them on) up to this size. */
  errorBodyBytes: z
    .number()
    .int()
    .positive()
    .max(16 * MiB)
    .default(MiB),
  /** The lease a proxied request holds; a gateway that dies mid-request frees a capped slot after this. */
  leaseTtlMs: z
    .number()
    .int()
    .positive()
    .max(24 * 3_600_000)
    .default(30 * 60_000),
});

export type ProxyConfigInput = z.input<typeof proxyConfigSchema>;
export type ProxyConfig = z.output<typeof proxyConfigSchema>;

export function parseProxyConfig(raw: unknown, where = "proxy options"): ProxyConfig {
  const parsed = proxyConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw fromZodError("E_INVALID_OPTIONS", `Invalid ${where}`, parsed.error);
  return parsed.data;
}
