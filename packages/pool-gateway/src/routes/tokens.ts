// POST /v1/tokens: a delegate (or admin) token mints a child token for an agent it starts. The child's limits are
// no wider than its parent's, it expires (default 1 h), and it ends when its parent is revoked or expires.
import { PoolError, parseDuration } from "@credpool/pool-core";
import { z } from "zod";
import { jsonResponse } from "../http-errors.js";
import { tokenLimitsSchema } from "../token-limits.js";
import { TOKEN_SCOPES, type TokenStore } from "../tokens.js";
import type { RouteDefinition } from "../types.js";
import type { GatewayServices } from "./services.js";

/** A child lives 30 days at most, however long its parent does. */
const MAX_TTL_MS = 30 * 24 * 3_600_000;

export const mintTokenBody = z
  .strictObject({
    name: z.string().regex(/^[\w.@-]{1,64}$/, "name takes 1-64 letters, digits, . @ _ -"),
    scope: z.enum(TOKEN_SCOPES).default("proxy"),
    /** A duration: `30m`, `2s`, `1h30m`. */
    ttl: z.string().min(1).max(32).optional(),
    ttlMs: z.number().int().positive().max(MAX_TTL_MS).optional(),
    ...tokenLimitsSchema.shape,
  })
  .refine((body) => body.ttl === undefined || body.ttlMs === undefined, {
    message: "give ttl or ttlMs, not both",
    path: ["ttl"],
  });

export type MintTokenBody = z.input<typeof mintTokenBody>;

function ttlOf(body: z.infer<typeof mintTokenBody>): number | undefined {
  if (body.ttl === undefined) return body.ttlMs;
  const ms = parseDuration(body.ttl);
  if (ms === undefined || ms <= 0 || ms > MAX_TTL_MS) {
    throw new PoolError(
      "E_INVALID_INPUT",
      `ttl: "${body.ttl}" is not a duration like 2s, 30m or 1h (at most 30 days).`,
    );
  }
  return Math.round(ms);
}

export function createTokenRoutes(services: GatewayServices, tokens: TokenStore): RouteDefinition[] {
  return [
    {
      method: "POST",
      pattern: "/v1/tokens",
      scope: "delegate",
      name: "token_mint",
      body: mintTokenBody,
      async handle(context) {
        const body = context.body as z.infer<typeof mintTokenBody>;
        const parent = context.client;
        if (!parent) throw new PoolError("E_UNAUTHORIZED", "A delegate token is required.");
        const { providers, models, maxConcurrent, rpm, maxWaitMs } = body;
        const limits = Object.fromEntries(
          Object.entries({ providers, models, maxConcurrent, rpm, maxWaitMs }).filter(
            ([, value]) => value !== undefined,
          ),
        );
        const ttlMs = ttlOf(body);
        const { token, client } = await tokens.create(body.name, body.scope, {
          parent: parent.id,
          limits,
          ...(ttlMs !== undefined ? { ttlMs } : {}),
        });
        services.logger.info(
          {
            event: "token.minted",
            requestId: context.requestId,
            parent: parent.name,
            tokenId: client.id,
            name: client.name,
            scope: client.scope,
            expiresAt: client.expiresAt,
            limits: client.limits,
          },
          "token minted",
        );
        return jsonResponse(201, {
          id: client.id,
          name: client.name,
          scope: client.scope,
          token,
          parentId: client.parentId,
          expiresAt: client.expiresAt,
          limits: client.limits ?? {},
        });
      },
    },
  ];
}
