// The official SDKs, pointed at the gateway as their base URL, get whole answers in order, streamed and not.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createFileBackend } from "@credpool/pool-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxyWorld, type ProxyWorld } from "./world.js";

const ANTHROPIC_KEY = "sk-ant-api03-FIXTUREproxySdkANTHROPIC-0123456789abcdef";
const OPENAI_KEY = "sk-proj-FIXTUREproxySdkOPENAI-0123456789abcdefghij";
const TEXT = "The quick brown fox jumps over the lazy dog, twice over, in order.";

describe("official SDKs through the proxy", () => {
  let world: ProxyWorld;
  beforeAll(async () => {
    world = await startProxyWorld({
      credentials: [
        { provider: "anthropic", label: "ant", secrets: { apiKey: ANTHROPIC_KEY } },
        { provider: "openai", label: "oai", secrets: { apiKey: OPENAI_KEY } },
      ],
      upstreamText: TEXT,
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

  it("answers an Anthropic Messages request whole, with the pool's key and not the gateway token upstream", async () => {
    const message = await anthropic().messages.create({
      model: "claude-fake-1",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.content).toEqual([{ type: "text", text: TEXT }]);
    const seen = world.upstream.requests.at(-1)!;
    expect(seen.path).toBe("/v1/messages");
    expect(seen.headers["x-api-key"]).toBe(ANTHROPIC_KEY);
    expect(JSON.stringify(seen.headers)).not.toContain(world.token);
  });

  it("streams an Anthropic Messages answer event by event, text in order, with the final usage", async () => {
    const stream = anthropic().messages.stream({
      model: "claude-fake-1",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    });
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas.join("")).toBe(TEXT);
    expect(deltas.length).toBeGreaterThan(5);
    expect(final.usage.output_tokens).toBe(deltas.length);
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
      model: "gpt-fake-1",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe(TEXT);
    const seen = world.upstream.requests.at(-1)!;
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
  });

  it("streams an OpenAI chat completion chunk by chunk, text in order, with the usage chunk", async () => {
    const stream = await openai().chat.completions.create({
      model: "gpt-fake-1",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let completionTokens: number | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) deltas.push(delta);
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    expect(deltas.join("")).toBe(TEXT);
    expect(completionTokens).toBe(deltas.length);
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
