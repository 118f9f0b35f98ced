// Replays the first response to a repeated Idempotency-Key, so a retried lease never leases twice. It runs after
// authentication: a revoked token gets a 401, not the answer it was given before.
import { createHash } from "node:crypto";
import { errorResponse } from "../http-errors.js";
import { header, type GatewayResponse, type Middleware } from "../types.js";

export interface IdempotencyOptions {
  ttlMs: number;
  maxEntries: number;
}

interface Entry {
  readonly expiresAt: number;
  /** The body the key was first used with: the same key with another body is a client bug, not a retry. */
  readonly bodyHash: string;
  readonly response: Promise<GatewayResponse>;
}

export function createIdempotencyMiddleware(options: IdempotencyOptions): Middleware {
  const entries = new Map<string, Entry>();

  const sweep = (now: number): void => {
    for (const [key, entry] of entries) {
      if (entry.expiresAt > now && entries.size <= options.maxEntries) break;
      entries.delete(key);
    }
  };

  return async (context, next) => {
    const key = header(context.request, "idempotency-key");
    if (key === undefined || context.request.method === "GET") return next();
    if (!/^[\x21-\x7e]{1,128}$/.test(key)) {
      return errorResponse("E_INVALID_INPUT", "Idempotency-Key must be 1-128 visible ASCII characters.");
    }
    // Scoped to the authenticated token, so one client can never receive another's replayed lease.
    const scope = createHash("sha256")
      .update(context.client?.id ?? "")
      .update("\0")
      .update(context.request.method)
      .update(context.path)
      .update("\0")
      .update(key)
      .digest("hex");
    const bodyHash = createHash("sha256")
      .update(context.request.body ?? "")
      .digest("hex");
    const now = Date.now();
    sweep(now);
    const existing = entries.get(scope);
    if (existing && existing.expiresAt > now) {
      if (existing.bodyHash !== bodyHash) {
        return errorResponse(
          "E_IDEMPOTENCY_MISMATCH",
          "This Idempotency-Key was already used with a different request body; use a new key for a different request.",
        );
      }
      const replay = await existing.response;
      return { ...replay, headers: { ...replay.headers, "idempotent-replay": "true" } };
    }
    // Concurrent duplicates wait on the same promise instead of racing to lease twice.
    const response = next();
    entries.set(scope, { expiresAt: now + options.ttlMs, bodyHash, response });
    // Only a success is pinned: a refusal leased nothing, so a retry with the same key must really run again (a
    // 503 once a credential frees up, a 403 once a block ends). A thrown error (how routes refuse) is not pinned
    // either. See test/idempotency.test.ts.
    let result: GatewayResponse;
    try {
      result = await response;
    } catch (error) {
      if (entries.get(scope)?.response === response) entries.delete(scope);
      throw error;
    }
    if (result.status >= 400 && entries.get(scope)?.response === response) entries.delete(scope);
    return result;
  };
}
