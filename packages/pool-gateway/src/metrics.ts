// Prometheus metrics on a private registry, so several gateways in one test process do not collide.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { KNOWN_PROVIDERS, type Pool, type WriteInfo } from "@credpool/pool-core";

/** The label an unknown provider is counted under: one series, however many names clients invent. */
export const OTHER_PROVIDER_LABEL = "other";
/** Distinct `model` label values kept before the rest are counted as "other". */
export const MODEL_LABEL_LIMIT = 100;

// C0, DEL and C1 controls: a label is for a terminal and a scraper, never for bytes like these.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly leases: Counter<"provider" | "outcome">;
  readonly refreshes: Counter<"result">;
  readonly totpFailures: Counter;
  readonly httpDuration: Histogram<"route" | "status">;
  /** Proxied requests; `credential` is the credential's label (never a secret), `none` when none was leased. */
  readonly proxyRequests: Counter<"provider" | "credential" | "model" | "status">;
  /** Tokens the upstream reported, by type: input (uncached), output, cache_read, cache_write. */
  readonly tokens: Counter<"provider" | "credential" | "model" | "type">;
  /** From sending a proxied request upstream to its response headers, per attempt. */
  readonly upstreamSeconds: Histogram<"provider">;
  /** Proxied requests moved to another credential after a failure, counted per move. */
  readonly failovers: Counter<"provider">;
  /** A 401 on an OAuth credential answered by renewing its token and sending again. */
  readonly refreshRetries: Counter<"provider">;
  /**
   * The `model` label for a name a client sent: the first MODEL_LABEL_LIMIT distinct names as they are, later ones
   * as "other", so clients cannot grow the series without bound.
   */
  modelLabel(model: string | undefined): string;
  /** A credential label with control characters removed. */
  credentialLabel(label: string | undefined): string;
  /** Feed for the store's onWrite hook. */
  observeWrite(info: WriteInfo): void;
  /** Credentials-by-state is computed from the pool at scrape time. */
  attachPool(pool: Pool): void;
  /** Requests in flight are read from the handler at scrape time (no cost per request). */
  attachInFlight(read: () => number): void;
  /**
   * The `provider` label for a name a client sent: the name itself when the pool or the built-in list knows it,
   * else "other". Labels live as long as the process, so a client must not be able to mint them.
   */
  providerLabel(provider: string): string;
}

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  const leases = new Counter({
    name: "credpool_leases_total",
    help: "Lease requests by provider and outcome (granted, denied, ok, error).",
    labelNames: ["provider", "outcome"] as const,
    registers: [registry],
  });
  const refreshes = new Counter({
    name: "credpool_refreshes_total",
    help: "OAuth refreshes by result.",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const totpFailures = new Counter({
    name: "credpool_totp_failures_total",
    help: "Failed TOTP verifications.",
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "credpool_http_request_duration_seconds",
    help: "HTTP request duration by route and status.",
    labelNames: ["route", "status"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const lockWait = new Histogram({
    name: "credpool_store_lock_wait_seconds",
    help: "Time waiting for the pool lock before a commit.",
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const commitDuration = new Histogram({
    name: "credpool_store_commit_duration_seconds",
    help: "Time from holding the pool lock to a durable commit.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const proxyRequests = new Counter({
    name: "credpool_proxy_requests_total",
    help: "Proxied requests by provider, credential label, model and status (client_closed when the client left first).",
    labelNames: ["provider", "credential", "model", "status"] as const,
    registers: [registry],
  });
  const tokens = new Counter({
    name: "credpool_tokens_total",
    help: "Tokens reported by the upstream for proxied requests, by type (input, output, cache_read, cache_write).",
    labelNames: ["provider", "credential", "model", "type"] as const,
    registers: [registry],
  });
  const upstreamSeconds = new Histogram({
    name: "credpool_proxy_upstream_seconds",
    help: "Time from sending a proxied request upstream to its response headers, per attempt.",
    labelNames: ["provider"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const failovers = new Counter({
    name: "credpool_proxy_failovers_total",
    help: "Proxied requests moved to another credential after a failure.",
    labelNames: ["provider"] as const,
    registers: [registry],
  });
  const refreshRetries = new Counter({
    name: "credpool_proxy_refresh_retries_total",
    help: "OAuth 401s answered by renewing the token and sending the request again.",
    labelNames: ["provider"] as const,
    registers: [registry],
  });
  const models = new Set<string>();
  let attached: Pool | undefined;
  new Gauge({
    name: "credpool_credentials",
    help: "Credentials by provider and state.",
    labelNames: ["provider", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      if (!attached) return;
      for (const view of attached.list()) {
        const state = view.available ? "ok" : (view.unavailable?.kind ?? "ok");
        this.inc({ provider: view.credential.provider.replace(CONTROL_CHARACTERS, ""), state });
      }
    },
  });
  let readInFlight: (() => number) | undefined;
  // Shutdown drains these; the shutdown test waits on it to know its requests arrived (test/gateway/shutdown.test.ts).
  new Gauge({
    name: "credpool_http_requests_in_flight",
    help: "HTTP requests inside the gateway's pipeline right now (this scrape included).",
    registers: [registry],
    collect() {
      this.set(readInFlight?.() ?? 0);
    },
  });
  return {
    registry,
    leases,
    refreshes,
    totpFailures,
    httpDuration,
    proxyRequests,
    tokens,
    upstreamSeconds,
    failovers,
    refreshRetries,
    modelLabel(model) {
      if (model === undefined || model === "") return "unknown";
      const clean = model.replace(CONTROL_CHARACTERS, "").slice(0, 100);
      if (models.has(clean)) return clean;
      if (models.size >= MODEL_LABEL_LIMIT) return OTHER_PROVIDER_LABEL;
      models.add(clean);
      return clean;
    },
    credentialLabel(label) {
      return label === undefined ? "none" : label.replace(CONTROL_CHARACTERS, "");
    },
    observeWrite(info) {
      lockWait.observe(info.lockWaitMs / 1000);
      commitDuration.observe(info.commitMs / 1000);
    },
    attachPool(pool) {
      attached = pool;
    },
    attachInFlight(read) {
      readInFlight = read;
    },
    providerLabel(provider) {
      const known =
        Object.hasOwn(KNOWN_PROVIDERS, provider) ||
        (attached !== undefined && Object.hasOwn(attached.doc.providers, provider));
      return known ? provider.replace(CONTROL_CHARACTERS, "") : OTHER_PROVIDER_LABEL;
    },
  };
}
