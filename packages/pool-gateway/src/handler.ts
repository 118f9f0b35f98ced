// The gateway as a plain function from request to response, so tests need no socket.
import type { PoolBackend } from "@credpool/pool-core";

export interface GatewayRequest {
  readonly method: string;
  /** Path and query, e.g. `/v1/leases?x=1`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  /** The peer address, for per-source access control. */
  readonly remoteAddress?: string;
}

export interface GatewayResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface GatewayDependencies {
  readonly backend: PoolBackend;
}

export type GatewayHandler = (request: GatewayRequest) => Promise<GatewayResponse>;

function json(status: number, value: unknown): GatewayResponse {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}

function errorResponse(status: number, code: string, message: string): GatewayResponse {
  return json(status, { error: { code, message } });
}

export function createGatewayHandler(deps: GatewayDependencies): GatewayHandler {
  return async (request) => {
    const path = request.url.split("?", 1)[0] ?? "/";
    if (path === "/healthz") {
      return request.method === "GET" ? json(200, { ok: true }) : errorResponse(405, "E_USAGE", "Use GET.");
    }
    if (path === "/readyz") {
      try {
        const { rev } = await deps.backend.read();
        return json(200, { ready: true, rev });
      } catch (error) {
        const code = (error as { code?: string }).code ?? "E_POOL_IO";
        return errorResponse(503, code, (error as Error).message);
      }
    }
    return errorResponse(404, "E_NOT_FOUND", `No route for ${request.method} ${path}.`);
  };
}
