// GET / (the status page), GET /assets/* (its hashed, immutable files) and GET /v1/events (server-sent events),
// served at the node:http level: an event stream stays open, which the buffered handler pipeline cannot do.
//
// The page reads /v1/events with fetch() and its Authorization header rather than EventSource, which cannot send
// headers: a token in the URL would land in logs and history, and a ticket exchange would add a second credential
// to issue, expire and guard. fetch streaming needs neither; the page reconnects by itself (see web/app.ts).
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { errorResponse } from "../http-errors.js";
import type { AuthThrottle } from "../middleware/auth-throttle.js";
import { canRead } from "../middleware/access-control.js";
import type { AdminGate } from "../routes/services.js";
import type { ClientToken } from "../tokens.js";
import type { GatewayResponse } from "../types.js";
import type { StatusFeed } from "./feed.js";

/** No inline script or style, nothing off the machine, no framing. */
export const STATUS_PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HEARTBEAT_MS = 15_000;
const DEFAULT_PAGE_DIR = fileURLToPath(new URL("../status-page/", import.meta.url));

export interface StatusPageOptions {
  readonly feed: StatusFeed;
  readonly verifyToken: (token: string) => ClientToken | undefined | Promise<ClientToken | undefined>;
  readonly authThrottle: AuthThrottle;
  readonly gate?: AdminGate;
  /** The built page (dist/status-page); tests may point elsewhere. */
  readonly pageDir?: string;
  readonly heartbeatMs?: number;
}

export interface StatusPageRoutes {
  matches(url: string): boolean;
  handle(request: IncomingMessage, response: ServerResponse): void;
  /** Ends every open event stream (shutdown). */
  close(): void;
}

const CONTENT_TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  png: "image/png",
  svg: "image/svg+xml",
};

function reply(response: ServerResponse, result: GatewayResponse): void {
  const body = result.body;
  response.writeHead(result.status, { ...result.headers, "content-length": String(Buffer.byteLength(body)) });
  response.end(body);
}

export function createStatusPageRoutes(options: StatusPageOptions): StatusPageRoutes {
  const pageDir = options.pageDir ?? DEFAULT_PAGE_DIR;
  const streams = new Set<ServerResponse>();
  const securityHeaders = {
    "content-security-policy": STATUS_PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };

  async function serveFile(response: ServerResponse, name: string, cacheControl: string): Promise<void> {
    let body: Buffer;
    try {
      body = await readFile(join(pageDir, name));
    } catch {
      const missing =
        name === "index.html"
          ? errorResponse("E_NOT_FOUND", "The status page is not built: run `pnpm run build`.")
          : errorResponse("E_NOT_FOUND", `No asset ${name}.`);
      return reply(response, missing);
    }
    const extension = name.slice(name.lastIndexOf(".") + 1);
    response.writeHead(200, {
      ...securityHeaders,
      "content-type": extension === "html" ? "text/html; charset=utf-8" : (CONTENT_TYPES[extension] ?? "text/plain"),
      "cache-control": cacheControl,
      "content-length": String(body.length),
    });
    response.end(body);
  }

  async function serveEvents(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const authorization = request.headers.authorization;
    const presented = authorization === undefined ? undefined : /^Bearer (\S+)$/i.exec(authorization)?.[1];
    let client = presented === undefined ? undefined : options.verifyToken(presented);
    if (client instanceof Promise) client = await client;
    if (!client) {
      const verdict = options.authThrottle.fail("events", presented);
      return reply(
        response,
        verdict.ok
          ? errorResponse("E_UNAUTHORIZED", "A valid bearer token is required (Authorization: Bearer cpg_...).")
          : errorResponse("E_RATE_LIMITED", "Too many failed authentications; retry later.", verdict.waitMs),
      );
    }
    if (!canRead(client.scope)) {
      return reply(
        response,
        errorResponse(
          "E_FORBIDDEN",
          `Token "${client.name}" has scope ${client.scope}; the status page needs a read, lease or admin token.`,
        ),
      );
    }
    let totpConfigured: boolean | "broken" = false;
    try {
      totpConfigured = (await options.gate?.isConfigured()) ?? false;
    } catch {
      totpConfigured = "broken";
    }
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      connection: "keep-alive",
    });
    streams.add(response);
    const send = (event: string, data: string): void => {
      response.write(`event: ${event}\ndata: ${data}\n\n`);
    };
    send("hello", JSON.stringify({ token: client.name, scope: client.scope, totpConfigured }));
    send("snapshot", options.feed.snapshot());
    const unsubscribe = options.feed.subscribe((snapshot) => {
      // A token revoked while its page is open loses the stream at the next change; the page then says so. A token
      // the gateway does not hold in memory is looked up again (the answer is then a promise), and only a definite
      // "no such token" ends the stream.
      const still = options.verifyToken(presented ?? "");
      if (still !== undefined && !(still instanceof Promise)) return send("snapshot", snapshot);
      void Promise.resolve(still).then(
        (found) => (found === undefined ? response.end() : send("snapshot", snapshot)),
        () => response.end(),
      );
    });
    // A comment now and then keeps proxies and the page's staleness check from taking a quiet pool for a dead link.
    const heartbeat = setInterval(() => response.write(": heartbeat\n\n"), options.heartbeatMs ?? HEARTBEAT_MS);
    const stop = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(response);
    };
    response.once("close", stop);
    request.socket.setTimeout(0);
  }

  return {
    matches(url) {
      const path = url.split("?", 1)[0] ?? "/";
      return path === "/" || path === "/index.html" || path === "/v1/events" || path.startsWith("/assets/");
    },
    handle(request, response) {
      const path = (request.url ?? "/").split("?", 1)[0] ?? "/";
      if (request.method !== "GET" && request.method !== "HEAD") {
        return reply(response, errorResponse("E_METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}.`));
      }
      const done = (work: Promise<void>): void => {
        work.catch(() => {
          if (!response.headersSent) reply(response, errorResponse("E_INTERNAL", "Internal error."));
          else response.end();
        });
      };
      if (path === "/v1/events") {
        if (request.method !== "GET") {
          return reply(response, errorResponse("E_METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}.`));
        }
        return done(serveEvents(request, response));
      }
      if (path === "/" || path === "/index.html") return done(serveFile(response, "index.html", "no-cache"));
      const name = path.slice("/assets/".length);
      // Hashed names only: nothing with a slash or dot-dot reaches the file system.
      if (!/^[\w-]+\.[\w]+$/.test(name)) {
        return reply(response, errorResponse("E_NOT_FOUND", `No asset ${name}.`));
      }
      done(serveFile(response, `assets/${name}`, "public, max-age=31536000, immutable"));
    },
    close() {
      for (const stream of streams) stream.end();
      streams.clear();
    },
  };
}
