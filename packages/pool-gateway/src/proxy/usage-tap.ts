// Reads token usage off an answer as it is relayed, without holding it: an SSE stream goes through an incremental
// parser (Anthropic message_start / message_delta, OpenAI's final chunk with `usage`, the Responses API's
// response.completed); a JSON body is copied up to a bound and parsed once it has passed. Anything else is not read.
import { StringDecoder } from "node:string_decoder";
import { createParser, type EventSourceParser } from "eventsource-parser";
import type { TokenCounts } from "@credpool/pool-core";

/** A JSON answer larger than this is relayed but not read for usage. */
export const JSON_TAP_LIMIT = 1024 * 1024;
/** An SSE event larger than this is not parsed (a usage event is small; a huge one is content). */
const EVENT_LIMIT = 1024 * 1024;

export interface UsageTap {
  feed(chunk: Buffer): void;
  /** The usage the answer carried, or undefined when it carried none. */
  finish(): { tokens: TokenCounts; model?: string } | undefined;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
}

/**
 * Token counts from a `usage` object in any of the formats. OpenAI's prompt_tokens and the Responses API's
 * input_tokens include cached tokens; they are taken out so `input` means uncached input everywhere.
 */
export function tokensOfUsage(usage: unknown): TokenCounts | undefined {
  if (!isObject(usage)) return undefined;
  if (usage.prompt_tokens !== undefined || usage.completion_tokens !== undefined) {
    const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
    const cached = count(details.cached_tokens) ?? 0;
    return {
      input: Math.max(0, (count(usage.prompt_tokens) ?? 0) - cached),
      output: count(usage.completion_tokens) ?? 0,
      cacheRead: cached,
      cacheWrite: 0,
    };
  }
  if (usage.input_tokens === undefined && usage.output_tokens === undefined) return undefined;
  const details = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const cached = count(details.cached_tokens);
  return {
    // Anthropic's input_tokens already excludes cache reads and writes; the Responses API's includes cached ones.
    input: Math.max(0, (count(usage.input_tokens) ?? 0) - (cached ?? 0)),
    output: count(usage.output_tokens) ?? 0,
    cacheRead: count(usage.cache_read_input_tokens) ?? cached ?? 0,
    cacheWrite: count(usage.cache_creation_input_tokens) ?? 0,
  };
}

function modelOf(value: unknown): string | undefined {
  return isObject(value) && typeof value.model === "string" ? value.model : undefined;
}

function createSseTap(): UsageTap {
  const decoder = new StringDecoder("utf8");
  let tokens: TokenCounts | undefined;
  let model: string | undefined;
  let pendingBytes = 0;
  const onEvent = (data: string, event: string | undefined): void => {
    // Most events are content: skip the JSON parse unless the event can carry usage.
    if (data.length > EVENT_LIMIT || !data.includes("usage")) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (!isObject(parsed)) return;
    const type = event ?? (typeof parsed.type === "string" ? parsed.type : undefined);
    if (type === "message_start" && isObject(parsed.message)) {
      tokens = tokensOfUsage(parsed.message.usage) ?? tokens;
      model = modelOf(parsed.message) ?? model;
    } else if (type === "message_delta" && isObject(parsed.usage)) {
      // message_delta's counts are cumulative: they replace what message_start said, field by field.
      const delta = parsed.usage;
      const base = tokens ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
      tokens = {
        input: count(delta.input_tokens) ?? base.input,
        output: count(delta.output_tokens) ?? base.output,
        cacheRead: count(delta.cache_read_input_tokens) ?? base.cacheRead,
        cacheWrite: count(delta.cache_creation_input_tokens) ?? base.cacheWrite,
      };
    } else if (type?.startsWith("response.") && isObject(parsed.response)) {
      const found = tokensOfUsage(parsed.response.usage);
      if (found) tokens = found;
      model = modelOf(parsed.response) ?? model;
    } else if (isObject(parsed.usage)) {
      // OpenAI chat: the final chunk (with stream_options.include_usage) has `usage` and no choices.
      tokens = tokensOfUsage(parsed.usage) ?? tokens;
      model = modelOf(parsed) ?? model;
    }
  };
  let parser: EventSourceParser = createParser({ onEvent: (message) => onEvent(message.data, message.event) });
  return {
    feed(chunk) {
      // The parser keeps an unfinished event in memory: past the limit, drop it and start over at the next one.
      const blank = chunk.lastIndexOf("\n\n");
      pendingBytes = blank === -1 ? pendingBytes + chunk.length : chunk.length - blank;
      if (pendingBytes > EVENT_LIMIT) {
        parser = createParser({ onEvent: (message) => onEvent(message.data, message.event) });
        pendingBytes = 0;
        return;
      }
      parser.feed(decoder.write(chunk));
    },
    finish() {
      parser.feed(decoder.end());
      return tokens ? { tokens, ...(model ? { model } : {}) } : undefined;
    },
  };
}

function createJsonTap(): UsageTap {
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  return {
    feed(chunk) {
      if (overflow) return;
      size += chunk.length;
      if (size > JSON_TAP_LIMIT) {
        overflow = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    },
    finish() {
      if (overflow || size === 0) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return undefined;
      }
      if (!isObject(parsed)) return undefined;
      const tokens = tokensOfUsage(parsed.usage);
      if (!tokens) return undefined;
      const model = modelOf(parsed);
      return { tokens, ...(model ? { model } : {}) };
    },
  };
}

/** A tap for an answer with this content type and status, or undefined when it cannot carry usage. */
export function createUsageTap(status: number, contentType: string): UsageTap | undefined {
  if (status < 200 || status >= 300) return undefined;
  if (contentType.includes("text/event-stream")) return createSseTap();
  if (contentType.includes("json")) return createJsonTap();
  return undefined;
}
