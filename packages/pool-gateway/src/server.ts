// The only module that listens: loopback TCP by default, or a 0600 unix socket; remote only with TLS.
import { chmod } from "node:fs/promises";
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { isIP, type Socket } from "node:net";
import { PoolError, parseOptions } from "@credpool/pool-core";
import { z } from "zod";
import type { GatewayHandler } from "./handler.js";
import type { GatewayProxy } from "./proxy/index.js";
import type { GatewayResponse } from "./types.js";
import { errorResponse } from "./http-errors.js";

const pemSchema = z.union([z.string().min(1), z.instanceof(Buffer)]);

const gatewayServerOptionsSchema = z.object({
  handler: z.custom<GatewayHandler>((value) => typeof value === "function", "must be a gateway handler"),
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65_535).optional(),
  /** Listen on a unix socket instead of TCP; it is created with mode 0600. */
  socketPath: z.string().min(1).optional(),
  allowRemote: z.boolean().optional(),
  tls: z.object({ cert: pemSchema, key: pemSchema }).optional(),
  /** Stop reading a body past this many bytes and answer 413. */
  maxBodyBytes: z.number().int().positive().optional(),
  /**
   * Open connections at most (default 512), well below the usual file limit of 1024. At the cap a new connection
   * closes the oldest idle one; when every one has a request in flight, the new one is refused with a 503.
   */
  maxConnections: z.number().int().positive().optional(),
  /** Provider routes served at the node:http level, before the handler (which buffers bodies). */
  proxy: z
    .custom<Pick<GatewayProxy, "matches" | "handle">>(
      (value) => typeof value === "object" && value !== null,
      "must be a gateway proxy",
    )
    .optional(),
  /** The status page and its event stream (status/page-routes.ts), also served before the handler. */
  statusPage: z
    .custom<{ matches(url: string): boolean; handle(request: IncomingMessage, response: ServerResponse): void }>(
      (value) => typeof value === "object" && value !== null,
      "must be status page routes",
    )
    .optional(),
});

export type GatewayServerOptions = z.input<typeof gatewayServerOptionsSchema>;

export const DEFAULT_MAX_CONNECTIONS = 512;

export interface RunningGateway {
  readonly server: Server;
  readonly url: string;
  /** Stops accepting, waits for requests in flight, and closes idle keep-alive sockets. */
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

function readBody(request: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on("data", (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => {
      if (tooLarge) return resolve(null);
      // Lease bodies arrive in one chunk: no concat for them.
      const [first] = chunks;
      resolve(
        first === undefined
          ? ""
          : chunks.length === 1
            ? first.toString("utf8")
            : Buffer.concat(chunks).toString("utf8"),
      );
    });
    request.on("error", reject);
  });
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  // Every response object is built per request (see http-errors.ts), so it is ours to complete.
  headers["content-length"] = String(Buffer.byteLength(body));
  response.writeHead(status, headers);
  response.end(body);
}

/** Sends `result`; if that throws (say, a header Node refuses), the client still gets an answer, a 500. */
function answer(response: ServerResponse, result: GatewayResponse): void {
  try {
    send(response, result.status, result.headers, result.body);
  } catch {
    failInternally(response);
  }
}

function failInternally(response: ServerResponse): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  send(
    response,
    500,
    { "content-type": "application/json" },
    '{"error":{"code":"E_INTERNAL","message":"Internal error."}}',
  );
}

/**
 * Answers that become ready during one event-loop turn are written together at its end (setImmediate), not one
 * by one as each pipeline settles. A client waiting on several connections is then woken once for the batch
 * instead of once per answer; on loopback those wake-ups cost more than the gateway's own work, and batching
 * nearly doubled lease throughput (bench/groups/gateway.mjs). An answer waits at most for the rest of the turn.
 */
function createResponseBatcher(): (response: ServerResponse, result: GatewayResponse) => void {
  let queued: Array<[ServerResponse, GatewayResponse]> = [];
  const flush = (): void => {
    const batch = queued;
    queued = [];
    for (const [response, result] of batch) answer(response, result);
  };
  return (response, result) => {
    if (queued.push([response, result]) === 1) setImmediate(flush);
  };
}

/** The usual reasons a gateway cannot listen, said with what to do about them. */
function describeListenError(error: NodeJS.ErrnoException, where: string): Error {
  switch (error.code) {
    case "EADDRINUSE":
      return new Error(
        where.startsWith("/") || !where.includes(":")
          ? `${where} already exists: another gateway may be serving it. Stop that one, or remove the file if none is.`
          : `${where} is already in use (another gateway?). Stop it, or pick another port with --port.`,
      );
    case "EACCES":
      return new Error(
        `No permission to listen on ${where}. Ports below 1024 need privileges; pick another with --port.`,
      );
    case "EADDRNOTAVAIL":
      return new Error(`${where} is not an address of this machine; check --host.`);
    default:
      return error;
  }
}

/** A raw HTTP answer for a connection refused before any request was read; it closes the connection. */
function rawReply(reply: GatewayResponse): string {
  const head = Object.entries({
    ...reply.headers,
    "content-length": String(Buffer.byteLength(reply.body)),
    connection: "close",
  })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n${head}\r\n${reply.body}`;
}

/**
 * Keeps open connections at or below `cap`, so idle sockets can neither exhaust the file limit (every accept after
 * EMFILE fails, good clients included) nor hold every slot: at the cap, the oldest connection with no request in
 * flight is closed to make room. Only when all of them are busy is the newcomer refused, with a 503 that says why.
 * see test/gateway/connection-cap.test.ts
 */
function createConnectionCap(cap: number) {
  // Insertion order is age: the first idle entry is the oldest idle connection.
  const open = new Map<Socket, { inFlight: number }>();
  const refusal = rawReply(
    errorResponse(
      "E_TOO_MANY_CONNECTIONS",
      `The gateway is at its limit of ${cap} connections, all busy; retry shortly.`,
      1000,
    ),
  );
  return {
    admit(socket: Socket): void {
      if (open.size >= cap) {
        for (const [other, state] of open) {
          if (state.inFlight > 0) continue;
          open.delete(other);
          other.destroy();
          break;
        }
      }
      if (open.size >= cap) {
        socket.end(refusal);
        socket.once("finish", () => socket.destroy());
        return;
      }
      open.set(socket, { inFlight: 0 });
      socket.once("close", () => open.delete(socket));
    },
    /** Marks a request in flight on `socket` until `response` closes; false for a socket that was refused. */
    track(socket: Socket, response: ServerResponse): boolean {
      const state = open.get(socket);
      if (!state) return false;
      state.inFlight++;
      response.once("close", () => state.inFlight--);
      return true;
    },
  };
}

export async function startGatewayServer(rawOptions: GatewayServerOptions): Promise<RunningGateway> {
  const options = parseOptions(gatewayServerOptionsSchema, rawOptions, "gateway server options");
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 7878;
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!options.socketPath && !isLoopback(host)) {
    if (!options.allowRemote || !options.tls) {
      throw new PoolError(
        "E_INVALID_OPTIONS",
        `Refusing to listen on non-loopback address ${host}: pass --allow-remote together with --tls-cert and --tls-key.`,
      );
    }
  }

  const enqueue = createResponseBatcher();
  const connections = createConnectionCap(maxConnections);
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    if (!connections.track(request.socket, response)) {
      request.socket.destroy();
      return;
    }
    if (options.proxy?.matches(request.url ?? "/")) return options.proxy.handle(request, response);
    if (options.statusPage?.matches(request.url ?? "/")) return options.statusPage.handle(request, response);
    void (async () => {
      const body = await readBody(request, limit);
      if (body === null) {
        const tooLarge = errorResponse("E_TOO_LARGE", `The request body exceeds ${limit} bytes.`);
        tooLarge.headers.connection = "close";
        send(response, tooLarge.status, tooLarge.headers, tooLarge.body);
        return;
      }
      const result = await options.handler({
        method: request.method ?? "GET",
        url: request.url ?? "/",
        headers: request.headers,
        body,
        remoteAddress: request.socket.remoteAddress ?? (options.socketPath ? "unix" : "unknown"),
      });
      enqueue(response, result);
    })().catch(() => failInternally(response));
  };

  const server: Server = options.tls
    ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : createServer(listener);
  server.keepAliveTimeout = 65_000;
  // With TLS the cap counts connections past their handshake; Node's own limit bounds those still shaking hands.
  if (options.tls) server.maxConnections = maxConnections * 2;
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => connections.admit(socket));
  // Requests Node's parser rejects (bad request line, oversized headers) get the same JSON error shape as the rest.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === "ECONNRESET") return socket.destroy();
    const reply =
      error.code === "HPE_HEADER_OVERFLOW"
        ? errorResponse("E_TOO_LARGE", "The request headers are too large.")
        : errorResponse("E_INVALID_INPUT", "The request is not valid HTTP/1.1.");
    socket.end(rawReply(reply));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(describeListenError(error, options.socketPath ?? `${host}:${port}`)),
    );
    const done = (): void => {
      server.off("error", reject);
      resolve();
    };
    if (options.socketPath) server.listen(options.socketPath, done);
    else server.listen(port, host, done);
  });
  if (options.socketPath) await chmod(options.socketPath, 0o600);

  const address = server.address();
  const url = options.socketPath
    ? `unix:${options.socketPath}`
    : `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${typeof address === "object" && address ? address.port : port}`;

  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        // close() stops accepting and resolves once in-flight requests finish and their sockets go idle.
        server.close(() => resolve());
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        idle.unref();
        server.once("close", () => clearInterval(idle));
      }),
  };
}
