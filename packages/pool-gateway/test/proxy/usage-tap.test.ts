// The usage tap reads token counts off answers in every wire format, whatever the chunk boundaries, and skips what
// it must not hold (a JSON body past its bound, an oversized SSE event, an error answer).
import { describe, expect, it } from "vitest";
import { createGatewayMetrics } from "../../src/metrics.js";
import { accountRequest } from "../../src/proxy/usage-accounting.js";
import { JSON_TAP_LIMIT, createUsageTap } from "../../src/proxy/usage-tap.js";

const SSE = "text/event-stream; charset=utf-8";

function sse(events: readonly [string | undefined, unknown][]): string {
  return events
    .map(
      ([name, data]) =>
        `${name ? `event: ${name}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`,
    )
    .join("");
}

/** Feeds `text` in chunks of `size` bytes (splitting multi-byte characters and events anywhere). */
function tapAll(contentType: string, text: string, size: number, status = 200) {
  const tap = createUsageTap(status, contentType);
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) tap?.feed(bytes.subarray(at, at + size));
  return tap?.finish();
}

const ANTHROPIC_STREAM = sse([
  [
    "message_start",
    {
      type: "message_start",
      message: {
        model: "claude-x",
        usage: { input_tokens: 20, output_tokens: 1, cache_read_input_tokens: 7, cache_creation_input_tokens: 3 },
      },
    },
  ],
  ["content_block_delta", { type: "content_block_delta", delta: { type: "text_delta", text: "héllo usage" } }],
  ["message_delta", { type: "message_delta", usage: { output_tokens: 42 } }],
  ["message_stop", { type: "message_stop" }],
]);

describe("createUsageTap", () => {
  it.each([1, 3, 17, 4096])("reads Anthropic's message_start and message_delta in %i-byte chunks", (size) => {
    expect(tapAll(SSE, ANTHROPIC_STREAM, size)).toEqual({
      tokens: { input: 20, output: 42, cacheRead: 7, cacheWrite: 3 },
      model: "claude-x",
    });
  });

  it("takes OpenAI's final usage chunk, with cached tokens out of input", () => {
    const stream = sse([
      [undefined, { model: "gpt-x", choices: [{ delta: { content: "usage" } }], usage: null }],
      [
        undefined,
        {
          model: "gpt-x",
          choices: [],
          usage: { prompt_tokens: 30, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 10 } },
        },
      ],
      [undefined, "[DONE]"],
    ]);
    expect(tapAll(SSE, stream, 5)).toEqual({
      tokens: { input: 20, output: 9, cacheRead: 10, cacheWrite: 0 },
      model: "gpt-x",
    });
  });

  it("takes the Responses API's response.completed", () => {
    const stream = sse([
      ["response.created", { type: "response.created", response: { model: "gpt-r", usage: null } }],
      ["response.output_text.delta", { type: "response.output_text.delta", delta: "x" }],
      [
        "response.completed",
        {
          type: "response.completed",
          response: {
            model: "gpt-r",
            usage: { input_tokens: 50, output_tokens: 5, input_tokens_details: { cached_tokens: 40 } },
          },
        },
      ],
    ]);
    expect(tapAll(SSE, stream, 64)).toEqual({
      tokens: { input: 10, output: 5, cacheRead: 40, cacheWrite: 0 },
      model: "gpt-r",
    });
  });

  it("reads a JSON body's usage in any chunking: Anthropic, chat completions, embeddings", () => {
    const anthropic = { model: "m", usage: { input_tokens: 1, output_tokens: 2, cache_read_input_tokens: 3 } };
    expect(tapAll("application/json", JSON.stringify(anthropic), 2)?.tokens).toEqual({
      input: 1,
      output: 2,
      cacheRead: 3,
      cacheWrite: 0,
    });
    const chat = { usage: { prompt_tokens: 8, completion_tokens: 4, total_tokens: 12 } };
    expect(tapAll("application/json", JSON.stringify(chat), 7)?.tokens).toEqual({
      input: 8,
      output: 4,
      cacheRead: 0,
      cacheWrite: 0,
    });
    const embeddings = { data: [], usage: { prompt_tokens: 6, total_tokens: 6 } };
    expect(tapAll("application/json", JSON.stringify(embeddings), 100)?.tokens).toEqual({
      input: 6,
      output: 0,
      cacheRead: 0,
      cacheWrite: 0,
    });
  });

  it("does not hold a JSON body past its bound, nor read error answers or other content types", () => {
    const huge = JSON.stringify({ pad: "x".repeat(JSON_TAP_LIMIT), usage: { input_tokens: 1, output_tokens: 1 } });
    expect(tapAll("application/json", huge, 65_536)).toBeUndefined();
    expect(createUsageTap(429, "application/json")).toBeUndefined();
    expect(createUsageTap(200, "application/octet-stream")).toBeUndefined();
  });

  it("skips an SSE event larger than its bound and still reads the events after it", () => {
    const big = sse([
      [undefined, { usage: { prompt_tokens: 999, completion_tokens: 999 }, pad: "y".repeat(1_200_000) }],
    ]);
    const after = sse([[undefined, { choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } }]]);
    expect(tapAll(SSE, big + after, 16_384)?.tokens).toEqual({ input: 3, output: 2, cacheRead: 0, cacheWrite: 0 });
  });
});

describe("accountRequest", () => {
  it("counts failovers per move, tokens by type, and bounds the model label", async () => {
    const metrics = createGatewayMetrics();
    const request = {
      provider: "anthropic",
      client: "agent",
      credentialId: "c1",
      credentialLabel: "main\u0007",
      model: "claude-x",
      status: 200,
      attempts: 3,
      tokens: { input: 5, output: 6, cacheRead: 0, cacheWrite: 1 },
    } as const;
    accountRequest({ metrics }, request);
    for (let i = 0; i < 150; i++) accountRequest({ metrics }, { ...request, attempts: 1, model: `invented-${i}` });
    const text = await metrics.registry.metrics();
    expect(text).toContain('credpool_proxy_failovers_total{provider="anthropic"} 2');
    expect(text).toContain(
      'credpool_tokens_total{provider="anthropic",credential="main",model="claude-x",type="output"} 6',
    );
    expect(text).not.toContain('type="cache_read"');
    const models = new Set(
      text
        .split("\n")
        .filter((line) => line.startsWith("credpool_proxy_requests_total{"))
        .map((line) => /model="([^"]*)"/.exec(line)?.[1]),
    );
    expect(models.size).toBe(101);
    expect(models).toContain("other");
  });
});
