// The official SDKs, pointed at the gateway as their base URL, get whole answers in order, streamed and not, and
// the usage the gateway counts (usage.json) equals what the fake upstream sent.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createFileBackend } from "@credpool/pool-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxyWorld, waitForUsage, type ProxyWorld } from "./world.js";

const ANTHROPIC_KEY = "sk-ant-api03-FIXTUREproxySdkANTHROPIC-0123456789abcdef";
const OPENAI_KEY = "sk-proj-FIXTUREproxySdkOPENAI-0123456789abcdefghij";
const TEXT = "The quick brown fox jumps over the lazy dog, twice over, in order.";
const CACHE_READ = 5;
const CACHE_WRITE = 3;

describe("official SDKs through the proxy", () => {
  let world: ProxyWorld;
  beforeAll(async () => {
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai", secrets: { apiKey: OPENAI_KEY } },
      ],
      upstreamText: TEXT,
      upstream: { cacheReadTokens: CACHE_READ, cacheWriteTokens: CACHE_WRITE },
    });
  });
  afterAll(async () => {
    await world?.stop();
  });

  function anthropic(): Anthropic {
    return new Anthropic({ baseURL: `${world.gateway.url}/anthropic`, apiKey: world.token, maxRetries: 0 });
  }
  function openai(): OpenAI {
    return new OpenAI({ baseURL: `${world.gateway.url}/openai/v1`, apiKey: world.token, maxRetries: 0 });
  }
  /** What the gateway counted for `model` (each test uses its own), once its one request is flushed. */
  function usageOf(provider: string, model: string) {
    return waitForUsage(world.poolPath, { provider, model, client: "agent" }, 1);
  }

  it("answers an Anthropic Messages request whole, with the pool's key and not the gateway token upstream", async () => {
    const message = await anthropic().messages.create({
      model: "claude-fake-json",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.content).toEqual([{ type: "text", text: TEXT }]);
    const seen = world.upstream.requests.at(-1)!;
    expect(seen.path).toBe("/v1/messages");
    expect(seen.headers["x-api-key"]).toBe(ANTHROPIC_KEY);
    expect(JSON.stringify(seen.headers)).not.toContain(world.token);
    expect(message.usage.cache_read_input_tokens).toBe(CACHE_READ);
    expect(await usageOf("anthropic", "claude-fake-json")).toEqual({
      requests: 1,
      input: message.usage.input_tokens,
      output: message.usage.output_tokens,
      cacheRead: CACHE_READ,
      cacheWrite: CACHE_WRITE,
    });
  });

  it("streams an Anthropic Messages answer event by event, text in order, with the final usage", async () => {
    const stream = anthropic().messages.stream({
      model: "claude-fake-stream",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    });
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas.join("")).toBe(TEXT);
    expect(deltas.length).toBeGreaterThan(5);
    expect(final.usage.output_tokens).toBe(deltas.length);
    // Input and cache counts come from message_start, output from message_delta.
    expect(await usageOf("anthropic", "claude-fake-stream")).toEqual({
      requests: 1,
      input: final.usage.input_tokens,
      output: deltas.length,
      cacheRead: CACHE_READ,
      cacheWrite: CACHE_WRITE,
    });
  });

  it("passes Anthropic's count_tokens and models routes through, and the auth-token form of the SDK works", async () => {
    const viaAuthToken = new Anthropic({
      baseURL: `${world.gateway.url}/anthropic`,
      authToken: world.token,
      apiKey: null,
      maxRetries: 0,
    });
    const counted = await viaAuthToken.messages.countTokens({
      model: "claude-fake-1",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(counted.input_tokens).toBe(12);
    const models = await anthropic().models.list();
    expect(models.data.map((model) => model.id)).toEqual(["claude-fake-1"]);
    expect(world.upstream.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("answers an OpenAI chat completion whole, with the pool's key as Bearer", async () => {
    const completion = await openai().chat.completions.create({
      model: "gpt-fake-json",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe(TEXT);
    const seen = world.upstream.requests.at(-1)!;
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    // prompt_tokens includes the cached ones; the gateway counts them apart.
    const sent = completion.usage!;
    expect(sent.prompt_tokens_details?.cached_tokens).toBe(CACHE_READ);
    expect(await usageOf("openai", "gpt-fake-json")).toEqual({
      requests: 1,
      input: sent.prompt_tokens - CACHE_READ,
      output: sent.completion_tokens,
      cacheRead: CACHE_READ,
      cacheWrite: 0,
    });
  });

  it("streams an OpenAI chat completion chunk by chunk, text in order, with the usage chunk", async () => {
    const stream = await openai().chat.completions.create({
      model: "gpt-fake-stream",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) deltas.push(delta);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas.join("")).toBe(TEXT);
    expect(usage?.completion_tokens).toBe(deltas.length);
    expect(await usageOf("openai", "gpt-fake-stream")).toEqual({
      requests: 1,
      input: usage!.prompt_tokens - CACHE_READ,
      output: deltas.length,
      cacheRead: CACHE_READ,
      cacheWrite: 0,
    });
  });

  it("counts a streamed chat completion without include_usage as a request with no tokens", async () => {
    const stream = await openai().chat.completions.create({
      model: "gpt-fake-no-usage",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe(TEXT);
    expect(await usageOf("openai", "gpt-fake-no-usage")).toEqual({
      requests: 1,
      input: 0,
      output: 0,
      cacheRead: 0,
      cacheWrite: 0,
    });
  });

  it("counts the Responses API's usage, streamed (response.completed) and not, and embeddings", async () => {
    const response = await openai().responses.create({ model: "gpt-fake-responses", input: "hi" });
    expect(response.output_text).toBe(TEXT);
    const stream = await openai().responses.create({ model: "gpt-fake-responses-stream", input: "hi", stream: true });
    let text = "";
    let completed: OpenAI.Responses.ResponseUsage | undefined;
    for await (const event of stream) {
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") completed = event.response.usage ?? undefined;
    }
    expect(text).toBe(TEXT);
    const embedding = await openai().embeddings.create({ model: "text-embedding-fake-usage", input: "hi" });
    for (const [model, sent] of [
      ["gpt-fake-responses", response.usage!],
      ["gpt-fake-responses-stream", completed!],
    ] as const) {
      expect(sent.input_tokens_details.cached_tokens).toBe(CACHE_READ);
      expect(await usageOf("openai", model)).toEqual({
        requests: 1,
        input: sent.input_tokens - CACHE_READ,
        output: sent.output_tokens,
        cacheRead: CACHE_READ,
        cacheWrite: 0,
      });
    }
    expect(await usageOf("openai", "text-embedding-fake-usage")).toEqual({
      requests: 1,
      input: embedding.usage.prompt_tokens,
      output: 0,
      cacheRead: 0,
      cacheWrite: 0,
    });
  });

  it("passes OpenAI's models, embeddings and responses routes through", async () => {
    const models = await openai().models.list();
    expect(models.data.map((model) => model.id)).toEqual(["gpt-fake-1"]);
    const embedding = await openai().embeddings.create({ model: "text-embedding-fake", input: "hi" });
    expect(embedding.data[0]?.embedding.map((value) => Math.round(value * 10) / 10)).toEqual([0.1, 0.2, 0.3]);
    const response = await openai().responses.create({ model: "gpt-fake-1", input: "hi" });
    expect(response.output_text).toBe(TEXT);
  });
});

describe("the proxy when keys never leave the pool", () => {
  let world: ProxyWorld;
  afterAll(async () => {
    await world?.stop();
  });

  it("serves the SDK with the pool's key while a lease of the same key is refused", async () => {
    world = await startProxyWorld({
      credentials: [{ provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } }],
      upstreamText: TEXT,
    });
    const backend = createFileBackend({ path: world.poolPath });
    await backend.update((draft) => {
      draft.settings = { ...draft.settings, secrets: { release: "never" } };
    });
    await backend.close();
    const leaseToken = await world.createToken("worker", "lease");
    // The gateway follows the pool file; once it refuses a lease, the setting has reached it.
    let status = 0;
    for (let i = 0; i < 100 && status !== 403; i++) {
      const answer = await fetch(`${world.gateway.url}/v1/leases`, {
        method: "POST",
        headers: { authorization: `Bearer ${leaseToken}`, "content-type": "application/json" },
        body: JSON.stringify({ provider: "anthropic" }),
      });
      status = answer.status;
      const text = await answer.text();
      expect(text).not.toContain(ANTHROPIC_KEY.slice(20));
      if (status !== 403) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(403);

    const client = new Anthropic({ baseURL: `${world.gateway.url}/anthropic`, apiKey: world.token, maxRetries: 0 });
    const message = await client.messages.create({
      model: "claude-fake-1",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.content).toEqual([{ type: "text", text: TEXT }]);
    expect(world.upstream.requests.at(-1)?.headers["x-api-key"]).toBe(ANTHROPIC_KEY);
  });
});
