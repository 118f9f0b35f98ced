// Types for fake-upstream.mjs (kept in JavaScript so benches can run it without a TypeScript step).

export interface FakeUpstreamOptions {
  /** The assistant text every successful answer carries, split into one delta per word. */
  text?: string;
  /** Uncached input tokens of every answer (default 12). */
  inputTokens?: number;
  /** Cached input tokens read (default 0): Anthropic's cache_read_input_tokens, OpenAI's cached_tokens. */
  cacheReadTokens?: number;
  /** Input tokens written to the cache (default 0): Anthropic's cache_creation_input_tokens. */
  cacheWriteTokens?: number;
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
}

/** What the fake does with one request of a key; queued with `script()` or set as the key's default with `behave()`. */
export type FakeUpstreamBehavior =
  /**
   * A real answer for the path: JSON, or SSE when the body asks for `stream: true` (Anthropic messages, chat
   * completions with a final usage chunk under stream_options.include_usage, and the Responses API).
   */
  | { type: "ok"; headers?: Record<string, string>; text?: string; delayMs?: number; eventDelayMs?: number }
  /** An error in the provider's format (Anthropic for /v1/messages*, OpenAI otherwise) unless `body` is given. */
  | {
      type: "status";
      status: number;
      headers?: Record<string, string>;
      body?: unknown;
      message?: string;
      delayMs?: number;
    }
  /** A 200 SSE stream whose first event after message_start is an `overloaded_error` error event. */
  | { type: "overloaded-in-stream"; headers?: Record<string, string>; delayMs?: number }
  /** Streams `afterEvents` SSE events (default 3), then destroys the connection. */
  | { type: "cut"; afterEvents?: number; headers?: Record<string, string>; eventDelayMs?: number }
  /** Destroys the connection without answering. */
  | { type: "refuse"; delayMs?: number }
  /** Never answers. */
  | { type: "hang" };

export interface FakeUpstreamRequest {
  readonly index: number;
  readonly at: number;
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly path: string;
  /** Every header as received (lower-case names). */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly rawHeaders: readonly string[];
  readonly body: string;
  /** The x-api-key or Bearer token presented. */
  readonly key: string | undefined;
  readonly behavior: string | undefined;
  /** The fake cut this stream on purpose. */
  readonly cut: boolean;
  /** The client closed the connection before the answer was complete. */
  readonly clientClosed: boolean;
  /** The exchange is over (answered, cut or closed). */
  readonly finished: boolean;
}

export interface FakeUpstream {
  readonly url: string;
  readonly text: string;
  /** Every request, in arrival order. */
  readonly requests: readonly FakeUpstreamRequest[];
  requestsFor(key: string): FakeUpstreamRequest[];
  /** Queues behaviours for the next requests of `key`, used once each. */
  script(key: string, ...behaviors: FakeUpstreamBehavior[]): void;
  /** What `key` does once its script is used up (default: ok); undefined restores ok. */
  behave(key: string, behavior?: FakeUpstreamBehavior): void;
  reset(): void;
  /** Resolves once `predicate` holds (checked on every request event), or rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function startFakeUpstream(options?: FakeUpstreamOptions): Promise<FakeUpstream>;
