// Health, readiness, metrics and the masked pool status.
import { PoolError, isPoolError } from "@credpool/pool-core";
import { httpStatusFor, jsonResponse } from "../http-errors.js";
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
            credentials: services.pool.list(name).map((view) => toCredentialJson(view)),
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
      async handle(context) {
        // Ready means the pool file reads and validates now, not just that it did at start-up. Without a token the
        // answer is a reason code only: an error message names the pool's path, which is nobody else's business.
        let rev: number;
        try {
          ({ rev } = await services.pool.backend.read());
        } catch (error) {
          if (context.client) throw error;
          const reason = isPoolError(error) ? error.code : "E_INTERNAL";
          return jsonResponse(httpStatusFor(reason), { ready: false, reason });
        }
        return jsonResponse(200, context.client ? { ready: true, rev } : { ready: true });
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
