// Prometheus metrics on a private registry, so several gateways in one test process do not collide.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { KNOWN_PROVIDERS, type Pool, type WriteInfo } from "@credpool/pool-core";

/** The label an unknown provider is counted under: one series, however many names clients invent. */
export const OTHER_PROVIDER_LABEL = "other";

// C0, DEL and C1 controls: a label is for a terminal and a scraper, never for bytes like these.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly leases: Counter<"provider" | "outcome">;
  readonly refreshes: Counter<"result">;
  readonly totpFailures: Counter;
  readonly httpDuration: Histogram<"route" | "status">;
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
