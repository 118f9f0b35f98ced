// The only module that listens. Loopback by default; adapts node:http to the handler.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { GatewayHandler } from "./handler.js";

export interface GatewayServerOptions {
  host?: string;
  port?: number;
  handler: GatewayHandler;
  /** Requests with larger bodies are cut off with 413 before the handler sees them. */
  maxBodyBytes?: number;
}

export interface RunningGateway {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(null);
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

export async function startGatewayServer(options: GatewayServerOptions): Promise<RunningGateway> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 7878;
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request, limit);
      if (body === null) {
        response.writeHead(413, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { code: "E_INVALID_INPUT", message: `Body exceeds ${limit} bytes.` } }));
        return;
      }
      const result = await options.handler({
        method: request.method ?? "GET",
        url: request.url ?? "/",
        headers: request.headers as Record<string, string | undefined>,
        body,
        remoteAddress: request.socket.remoteAddress ?? "",
      });
      response.writeHead(result.status, result.headers);
      response.end(result.body);
    })().catch(() => {
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { code: "E_INTERNAL", message: "Internal error." } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  return {
    server,
    url: `http://${host}:${actualPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
