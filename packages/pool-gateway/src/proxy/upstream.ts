// The HTTP client toward providers: one pooled keep-alive undici Agent for the gateway, with its timeouts.
import type { Readable } from "node:stream";
import { Agent } from "undici";

export interface UpstreamClientOptions {
  connectTimeoutMs: number;
  /** From the request being sent to the response head; a slow model may think for minutes before answering. */
  headersTimeoutMs: number;
  /** The longest silence allowed between two chunks of a response body. */
  bodyIdleTimeoutMs: number;
}

export interface UpstreamRequest {
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | undefined;
  readonly signal: AbortSignal;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable;
}

export interface UpstreamClient {
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const agent = new Agent({
    connect: { timeout: options.connectTimeoutMs },
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: options.bodyIdleTimeoutMs,
  });
  return {
    async send(request) {
      const response = await agent.request({
        origin: request.origin,
        path: request.path,
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      });
      return { status: response.statusCode, headers: response.headers, body: response.body };
    },
    close: () => agent.close(),
  };
}

/** A short, secret-free name for a failed exchange: undici's or the socket's error code. */
export function describeNetworkError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : error instanceof Error ? error.name : "network error";
}
