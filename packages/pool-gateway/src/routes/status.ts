// Health, readiness, metrics and the masked pool status.
import { PoolError } from "@credpool/pool-core";
import { jsonResponse } from "../http-errors.js";
import type { RouteDefinition } from "../types.js";
import type { GatewayServices } from "./services.js";
import { toCredentialJson } from "./views.js";

export function createStatusRoutes(services: GatewayServices): RouteDefinition[] {
  const poolJson = (provider?: string) => {
    const doc = services.pool.doc;
    const providers = provider === undefined ? Object.keys(doc.providers).sort() : [provider];
    return {
      rev: doc.rev,
      providers: Object.fromEntries(
        providers.map((name) => [
          name,
          {
            strategy: doc.providers[name]?.strategy ?? "fill_first",
            credentials: services.pool.list(name).map(toCredentialJson),
          },
        ]),
      ),
    };
  };
  return [
    {
      method: "GET",
      pattern: "/healthz",
      scope: "public",
      name: "healthz",
      handle: () => Promise.resolve(jsonResponse(200, { ok: true })),
    },
    {
      method: "GET",
      pattern: "/readyz",
      scope: "public",
      name: "readyz",
      async handle() {
        // Ready means the pool file reads and validates now, not just that it did at start-up.
        const { rev } = await services.pool.backend.read();
        return jsonResponse(200, { ready: true, rev });
      },
    },
    {
      method: "GET",
      pattern: "/metrics",
      scope: "lease",
      name: "metrics",
      async handle() {
        const body = await services.metrics.registry.metrics();
        return { status: 200, headers: { "content-type": services.metrics.registry.contentType }, body };
      },
    },
    {
      method: "GET",
      pattern: "/v1/pool",
      scope: "lease",
      name: "pool",
      handle: () => Promise.resolve(jsonResponse(200, poolJson())),
    },
    {
      method: "GET",
      pattern: "/v1/pool/:provider",
      scope: "lease",
      name: "pool_provider",
      handle(context) {
        const provider = context.params.provider ?? "";
        // hasOwn: "__proto__" or "constructor" must not pass for a provider by way of Object.prototype.
        if (!Object.hasOwn(services.pool.doc.providers, provider)) {
          throw new PoolError("E_NOT_FOUND", `No provider "${provider}" in the pool.`);
        }
        return Promise.resolve(jsonResponse(200, poolJson(provider)));
      },
    },
  ];
}
