// Holds the head of a 200 SSE answer until its first content event: a provider that is overloaded sometimes says so
// in an `error` event at the start of a 200 stream, and while nothing has reached the client that is a failover,
// not an answer. The bytes are kept exactly as received and sent on untouched.
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { ErrorFormat } from "./routes.js";

export type StreamHead =
  /** Content (or enough bytes) arrived: send `held`, then the rest of the body. */
  | { readonly kind: "content"; readonly held: Buffer[] }
  /** The stream ended before any content: send `held` and finish. */
  | { readonly kind: "ended"; readonly held: Buffer[] }
  /** An error event came first: treat the answer as this status. */
  | { readonly kind: "error"; readonly status: number; readonly message: string; readonly held: Buffer[] };

/** Events that carry no content: waiting past them costs the client nothing. */
const PRELUDE_EVENTS = new Set(["ping", "message_start"]);

interface StreamError {
  readonly status: number;
  readonly message: string;
}

/** The status an in-stream error stands for, or undefined when it is the request's fault (passed through). */
function statusOfStreamError(type: string, message: string): number | undefined {
  const text = `${type} ${message}`;
  if (/overloaded/i.test(text)) return 529;
  if (/rate_limit/i.test(text)) return 429;
  if (/api_error|server_error|internal/i.test(text)) return 500;
  return undefined;
}

function streamErrorOf(message: EventSourceMessage, format: ErrorFormat): StreamError | "content" | "prelude" {
  if (format === "anthropic" && message.event !== undefined && PRELUDE_EVENTS.has(message.event)) return "prelude";
  if (message.data === "[DONE]") return "content";
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.data);
  } catch {
    return "content";
  }
  const error = (parsed as { error?: { type?: unknown; code?: unknown; message?: unknown } } | null)?.error;
  if (message.event !== "error" && (typeof error !== "object" || error === null)) {
    return format === "anthropic" && PRELUDE_EVENTS.has(String((parsed as { type?: unknown }).type))
      ? "prelude"
      : "content";
  }
  const type = [error?.type, error?.code].filter((part) => typeof part === "string").join(" ");
  const text = typeof error?.message === "string" ? error.message : "error event in stream";
  const status = statusOfStreamError(type, text);
  return status === undefined ? "content" : { status, message: text };
}

/** Reads `body` until its first content event, an error event, its end, or `limit` bytes; then pauses it. */
export function readStreamHead(body: Readable, format: ErrorFormat, limit: number): Promise<StreamHead> {
  return new Promise((resolve, reject) => {
    const held: Buffer[] = [];
    let size = 0;
    let decided: StreamHead | undefined;
    const decoder = new StringDecoder("utf8");
    const parser = createParser({
      onEvent(message) {
        if (decided) return;
        const verdict = streamErrorOf(message, format);
        if (verdict === "prelude") return;
        decided = verdict === "content" ? { kind: "content", held } : { kind: "error", ...verdict, held };
      },
    });
    const settle = (head: StreamHead): void => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.pause();
      // Until the caller pipes or destroys the body, an error must not go unheard (it would crash the process).
      body.on("error", () => undefined);
      resolve(head);
    };
    const onData = (chunk: Buffer): void => {
      held.push(chunk);
      size += chunk.length;
      parser.feed(decoder.write(chunk));
      if (decided) settle(decided);
      else if (size >= limit) settle({ kind: "content", held });
    };
    const onEnd = (): void => {
      parser.feed(decoder.end());
      settle(decided ?? { kind: "ended", held });
    };
    const onError = (error: Error): void => {
      body.off("data", onData);
      body.off("end", onEnd);
      reject(error);
    };
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
  });
}

/** Reads a whole (error) body up to `limit` bytes; past it, the rest is dropped. */
export async function readSmallBody(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      body.destroy();
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks);
}
