// What one finished proxied request adds to the Prometheus counters and to the usage document (usage.json).
import type { TokenCounts, UsageRecorder } from "@credpool/pool-core";
import type { GatewayMetrics } from "../metrics.js";

export interface FinishedRequest {
  readonly provider: string;
  readonly client: string;
  readonly credentialId: string | undefined;
  readonly credentialLabel: string | undefined;
  /** The model the request named, else the one the answer named. */
  readonly model: string | undefined;
  readonly status: number | "client_closed";
  readonly attempts: number;
  readonly tokens: TokenCounts | undefined;
}

const TOKEN_TYPES = [
  ["input", "input"],
  ["output", "output"],
  ["cache_read", "cacheRead"],
  ["cache_write", "cacheWrite"],
] as const;

export function accountRequest(
  sinks: { readonly metrics?: GatewayMetrics; readonly usage?: UsageRecorder },
  request: FinishedRequest,
): void {
  const { metrics, usage } = sinks;
  if (metrics) {
    const provider = metrics.providerLabel(request.provider);
    const credential = metrics.credentialLabel(request.credentialLabel);
    const model = metrics.modelLabel(request.model);
    metrics.proxyRequests.inc({ provider, credential, model, status: String(request.status) });
    if (request.attempts > 1) metrics.failovers.inc({ provider }, request.attempts - 1);
    if (request.tokens) {
      for (const [type, field] of TOKEN_TYPES) {
        const value = request.tokens[field];
        if (value > 0) metrics.tokens.inc({ provider, credential, model, type }, value);
      }
    }
  }
  // Only a request that reached a credential is usage of it.
  if (usage && request.credentialId !== undefined && request.credentialLabel !== undefined) {
    usage.record({
      provider: request.provider,
      credentialId: request.credentialId,
      credentialLabel: request.credentialLabel,
      model: request.model ?? "unknown",
      client: request.client,
      ...(request.tokens ? { tokens: request.tokens } : {}),
    });
  }
}
