// A client token's limits on the proxy routes (providers, models, concurrency, requests per minute, maxWaitMs),
// checked before anything is leased. A child token's requests count against its ancestors' limits too, so a parent
// and all the delegates it minted share its budget. Counters live in this gateway process.
// see test/proxy/delegation.test.ts and test/proxy/token-limits.test.ts
import type { ClientToken } from "../tokens.js";
import { modelMatches } from "../token-limits.js";
import { proxyError, type ProxyErrorReply } from "./errors.js";
import type { ErrorFormat } from "./routes.js";
import { jsonBodyOf } from "./json-body.js";

const MINUTE_MS = 60_000;
/** Tokens whose request-per-minute log is kept before idle ones are swept. */
const SWEEP_ABOVE = 10_000;
const NO_RELEASE = (): void => undefined;

export interface LimitRequest {
  readonly client: ClientToken;
  readonly provider: string;
  readonly method: string;
  readonly body: Buffer;
  readonly format: ErrorFormat;
}

export type Admission =
  | {
      readonly ok: true;
      /** proxy.maxWaitMs, or the tightest override up the token's chain. */
      readonly maxWaitMs: number;
      /** Ends this request's share of the concurrency limits; call once, when the request is over. */
      readonly release: () => void;
    }
  | { readonly ok: false; readonly limit: string; readonly reply: ProxyErrorReply };

export interface ClientLimiter {
  admit(request: LimitRequest): Admission;
}

/** The model a request names, read whatever its content type says (the upstream may not care either). */
function requestedModel(body: Buffer): string | undefined {
  const model = (jsonBodyOf(body) as { model?: unknown } | null | undefined)?.model;
  return typeof model === "string" ? model : undefined;
}

export function createClientLimiter(options: { defaultMaxWaitMs: number; now?: () => number }): ClientLimiter {
  const now = options.now ?? Date.now;
  const inFlight = new Map<string, number>();
  /** Admission times in the last minute, oldest first, per token id. */
  const minutes = new Map<string, number[]>();

  function recent(id: string, at: number): number[] {
    const log = minutes.get(id);
    if (!log) return [];
    let stale = 0;
    while (stale < log.length && log[stale]! <= at - MINUTE_MS) stale++;
    if (stale > 0) log.splice(0, stale);
    return log;
  }

  function sweep(at: number): void {
    if (minutes.size <= SWEEP_ABOVE) return;
    for (const id of [...minutes.keys()]) if (recent(id, at).length === 0) minutes.delete(id);
  }

  function refuse(request: LimitRequest, status: number, limit: string, message: string, retryAfterMs?: number) {
    return {
      ok: false as const,
      limit,
      reply: proxyError(request.format, status, "credpool_token_limit", message, retryAfterMs),
    };
  }

  return {
    admit(request) {
      const chain = [request.client, ...(request.client.ancestors ?? [])];
      if (!chain.some((token) => token.limits))
        return { ok: true, maxWaitMs: options.defaultMaxWaitMs, release: NO_RELEASE };
      const at = now();
      let model: string | undefined;
      let modelRead = false;
      for (const token of chain) {
        const limits = token.limits;
        if (!limits) continue;
        const who = `Gateway token "${token.name}"`;
        if (limits.providers && !limits.providers.includes(request.provider)) {
          return refuse(
            request,
            403,
            "providers",
            `${who} may use providers ${limits.providers.join(", ")} only (limit: providers); this request is for ${request.provider}.`,
          );
        }
        // Listing models (GET) names none; anything else must name one the token may use.
        if (limits.models && request.method !== "GET" && request.method !== "HEAD") {
          if (!modelRead) {
            model = requestedModel(request.body);
            modelRead = true;
          }
          if (model === undefined || !limits.models.some((pattern) => modelMatches(pattern, model!))) {
            return refuse(
              request,
              403,
              "models",
              `${who} may use models ${limits.models.join(", ")} only (limit: models); this request ${model === undefined ? "names no model" : `names ${JSON.stringify(model.slice(0, 200))}`}.`,
            );
          }
        }
      }
      // Counted limits are checked for the whole chain before any counter moves, so a refusal costs nothing.
      for (const token of chain) {
        const limits = token.limits;
        if (!limits) continue;
        const who = `Gateway token "${token.name}"`;
        if (limits.maxConcurrent !== undefined && (inFlight.get(token.id) ?? 0) >= limits.maxConcurrent) {
          return refuse(
            request,
            429,
            "maxConcurrent",
            `${who} is at its limit of ${limits.maxConcurrent} concurrent request${limits.maxConcurrent === 1 ? "" : "s"} (limit: maxConcurrent); retry when one has finished.`,
            1000,
          );
        }
        if (limits.rpm !== undefined) {
          const log = recent(token.id, at);
          if (log.length >= limits.rpm) {
            const waitMs = log[0]! + MINUTE_MS - at;
            return refuse(
              request,
              429,
              "rpm",
              `${who} is at its limit of ${limits.rpm} requests per minute (limit: rpm); retry in ${Math.ceil(waitMs / 1000)} s.`,
              waitMs,
            );
          }
        }
      }
      const counted: string[] = [];
      for (const token of chain) {
        const limits = token.limits;
        if (!limits) continue;
        if (limits.maxConcurrent !== undefined) {
          inFlight.set(token.id, (inFlight.get(token.id) ?? 0) + 1);
          counted.push(token.id);
        }
        if (limits.rpm !== undefined) {
          const log = minutes.get(token.id);
          if (log) log.push(at);
          else minutes.set(token.id, [at]);
        }
      }
      sweep(at);
      // A token's maxWaitMs overrides proxy.maxWaitMs; up a chain the tightest applies (a token without one counts
      // as proxy.maxWaitMs), so a child never waits longer than its parent would.
      const maxWaitMs = Math.min(...chain.map((token) => token.limits?.maxWaitMs ?? options.defaultMaxWaitMs));
      let released = false;
      return {
        ok: true,
        maxWaitMs,
        release() {
          if (released) return;
          released = true;
          for (const id of counted) {
            const left = (inFlight.get(id) ?? 1) - 1;
            if (left <= 0) inFlight.delete(id);
            else inFlight.set(id, left);
          }
        },
      };
    },
  };
}
