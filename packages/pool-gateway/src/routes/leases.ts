// POST /v1/leases and the renew/release routes. Workers get access tokens only, never refresh tokens.
import { PoolError, type Lease } from "@credpool/pool-core";
import { z } from "zod";
import { jsonResponse } from "../http-errors.js";
import type { ClientToken } from "../tokens.js";
import type { RouteDefinition } from "../types.js";
import type { GatewayServices } from "./services.js";

const leaseBody = z.strictObject({
  provider: z.string().min(1).max(80),
  model: z.string().min(1).max(200).optional(),
  ttlMs: z
    .number()
    .int()
    .positive()
    .max(24 * 3_600_000)
    .optional(),
});

const renewBody = z.strictObject({
  ttlMs: z
    .number()
    .int()
    .positive()
    .max(24 * 3_600_000)
    .optional(),
});

const headerValue = z.union([z.string().max(4096), z.array(z.string().max(4096)).max(16)]);
const releaseBody = z.discriminatedUnion("outcome", [
  z.strictObject({ outcome: z.literal("ok") }),
  z.strictObject({
    outcome: z.literal("error"),
    status: z.number().int().min(0).max(599),
    headers: z.record(z.string().max(128), headerValue).optional(),
    message: z.string().max(4000).optional(),
    model: z.string().min(1).max(200).optional(),
    reason: z.string().max(100).optional(),
  }),
]);

export function toLeaseJson(lease: Lease): Record<string, unknown> {
  return {
    leaseId: lease.id,
    credentialId: lease.credentialId,
    label: lease.label,
    provider: lease.provider,
    baseUrl: lease.baseUrl ?? null,
    token: lease.token,
    tokenType: lease.tokenType,
    expiresAt: lease.expiresAt ?? null,
    leaseExpiresAt: lease.leaseExpiresAt,
  };
}

/** A client may renew or release only its own leases; an admin token may release any. */
function ownedLease(services: GatewayServices, id: string, client: ClientToken | undefined): Lease {
  const held = services.leases.get(id);
  if (!held || (held.clientId !== client?.id && client?.scope !== "admin")) {
    throw new PoolError("E_NOT_FOUND", `No active lease ${id} for this client; it was released or its TTL lapsed.`);
  }
  return held.lease;
}

export function createLeaseRoutes(services: GatewayServices): RouteDefinition[] {
  return [
    {
      method: "POST",
      pattern: "/v1/leases",
      scope: "lease",
      name: "lease",
      body: leaseBody,
      repeatableBody: true,
      async handle(context) {
        const body = context.body as z.infer<typeof leaseBody>;
        if (services.requireAdminSession && !services.state.adminAuthenticated) {
          throw new PoolError(
            "E_TOTP_REQUIRED",
            "This gateway serves no leases until an admin authenticates (requireTotpToServe).",
          );
        }
        try {
          const lease = await services.pool.lease(body.provider, {
            ...(body.model ? { model: body.model } : {}),
            ...(body.ttlMs ? { ttlMs: body.ttlMs } : {}),
          });
          services.leases.add(lease, context.client?.id ?? "");
          services.metrics.leases.inc({ provider: services.metrics.providerLabel(body.provider), outcome: "granted" });
          if (services.logger.isLevelEnabled("debug"))
            services.logger.debug(
              {
                event: "lease.granted",
                requestId: context.requestId,
                client: context.client?.name,
                provider: body.provider,
                credentialId: lease.credentialId,
                leaseId: lease.id,
              },
              "lease granted",
            );
          return jsonResponse(201, toLeaseJson(lease));
        } catch (error) {
          services.metrics.leases.inc({ provider: services.metrics.providerLabel(body.provider), outcome: "denied" });
          services.logger.info(
            {
              event: "lease.denied",
              requestId: context.requestId,
              client: context.client?.name,
              provider: body.provider,
              errorCode: (error as PoolError).code,
            },
            "lease denied",
          );
          throw error;
        }
      },
    },
    {
      method: "POST",
      pattern: "/v1/leases/:id/renew",
      scope: "lease",
      name: "lease_renew",
      body: renewBody,
      repeatableBody: true,
      async handle(context) {
        const body = context.body as z.infer<typeof renewBody>;
        const lease = ownedLease(services, context.params.id ?? "", context.client);
        await lease.renew(body.ttlMs);
        return jsonResponse(200, { leaseId: lease.id, leaseExpiresAt: lease.leaseExpiresAt });
      },
    },
    {
      method: "POST",
      pattern: "/v1/leases/:id/release",
      scope: "lease",
      name: "lease_release",
      body: releaseBody,
      repeatableBody: true,
      async handle(context) {
        const body = context.body as z.infer<typeof releaseBody>;
        const lease = ownedLease(services, context.params.id ?? "", context.client);
        services.leases.delete(lease.id);
        if (body.outcome === "ok") {
          await lease.release("ok");
        } else {
          await lease.release({
            error: {
              status: body.status,
              ...(body.headers ? { headers: body.headers } : {}),
              ...(body.message ? { message: body.message } : {}),
              ...(body.model ? { model: body.model } : {}),
              ...(body.reason ? { reason: body.reason } : {}),
            },
          });
        }
        services.metrics.leases.inc({
          provider: services.metrics.providerLabel(lease.provider),
          outcome: body.outcome,
        });
        if (services.logger.isLevelEnabled("debug"))
          services.logger.debug(
            {
              event: "lease.released",
              requestId: context.requestId,
              client: context.client?.name,
              leaseId: lease.id,
              outcome: body.outcome,
              status: body.outcome === "error" ? body.status : undefined,
            },
            "lease released",
          );
        return jsonResponse(200, { released: true });
      },
    },
  ];
}
