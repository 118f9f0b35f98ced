// A fake model provider on loopback that speaks the real wire formats: Anthropic Messages (JSON and SSE), OpenAI
// chat completions (JSON and SSE chunks) and the Responses API (also at the Codex backend's /codex/responses), their
// error bodies and rate-limit headers. Scriptable per credential key (the x-api-key or Bearer token it receives), and
// it records every request's headers so tests can check what reached it. Plain JavaScript so benches can import it.
import { createServer } from "node:http";

const DEFAULT_TEXT = "Hello from the fake upstream, one word at a time.";

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function keyOf(headers) {
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string" && apiKey !== "") return apiKey;
  return /^Bearer (.+)$/i.exec(headers.authorization ?? "")?.[1];
}

/** Words with their trailing space, so the deltas join back into the text exactly. */
function splitText(text) {
  return text.match(/\S+\s*/g) ?? [text];
}

function isAnthropicPath(path) {
  return path.startsWith("/v1/messages") || path.startsWith("/v1/complete");
}

function anthropicError(type, message) {
  return { type: "error", error: { type, message } };
}

function openaiError(message, type, code) {
  return { error: { message, type, param: null, code: code ?? null } };
}

const ANTHROPIC_ERROR_TYPES = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function errorBodyFor(path, status, message) {
  if (isAnthropicPath(path)) return anthropicError(ANTHROPIC_ERROR_TYPES[status] ?? "api_error", message);
  const type =
    status === 429
      ? "rate_limit_exceeded"
      : status === 401
        ? "invalid_request_error"
        : status >= 500
          ? "server_error"
          : "invalid_request_error";
  return openaiError(message, type, status === 401 ? "invalid_api_key" : null);
}

function sseEvent(name, data) {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

export async function startFakeUpstream(options = {}) {
  const text = options.text ?? DEFAULT_TEXT;
  const inputTokens = options.inputTokens ?? 12;
  // Anthropic counts cached tokens apart from input_tokens; OpenAI counts them inside prompt/input tokens.
  const cacheReadTokens = options.cacheReadTokens ?? 0;
  const cacheWriteTokens = options.cacheWriteTokens ?? 0;
  const openaiPromptUsage = () => ({
    prompt_tokens: inputTokens + cacheReadTokens,
    prompt_tokens_details: { cached_tokens: cacheReadTokens, audio_tokens: 0 },
  });
  const requests = [];
  const scripts = new Map();
  const defaults = new Map();
  const sockets = new Set();
  const waiters = new Set();
  let counter = 0;

  function notify() {
    for (const waiter of waiters) waiter();
  }

  function nextBehavior(key) {
    const queue = scripts.get(key);
    if (queue && queue.length > 0) return queue.shift();
    return defaults.get(key) ?? { type: "ok" };
  }

  async function writeEvents(res, record, events, behavior) {
    let sent = 0;
    for (const chunk of events) {
      if (res.destroyed) return;
      if (behavior.type === "cut" && sent === (behavior.afterEvents ?? 3)) {
        record.cut = true;
        res.socket?.destroy();
        return;
      }
      if (!res.write(chunk)) await new Promise((resolve) => res.once("drain", resolve));
      sent++;
      if (behavior.eventDelayMs) await sleep(behavior.eventDelayMs);
    }
    res.end();
  }

  function anthropicStream(model, parts, behavior) {
    const id = `msg_fake${++counter}`;
    const events = [
      sseEvent("message_start", {
        type: "message_start",
        message: {
          id,
          type: "message",
          role: "assistant",
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: inputTokens,
            output_tokens: 1,
            cache_creation_input_tokens: cacheWriteTokens,
            cache_read_input_tokens: cacheReadTokens,
          },
        },
      }),
    ];
    if (behavior.type === "overloaded-in-stream") {
      events.push(sseEvent("ping", { type: "ping" }));
      events.push(sseEvent("error", anthropicError("overloaded_error", "Overloaded")));
      return events;
    }
    events.push(
      sseEvent("content_block_start", {
        type: "content_block_start",
        index: 0,
        content_block: { type: "text", text: "" },
      }),
    );
    events.push(sseEvent("ping", { type: "ping" }));
    for (const part of parts) {
      events.push(
        sseEvent("content_block_delta", {
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text: part },
        }),
      );
    }
    events.push(sseEvent("content_block_stop", { type: "content_block_stop", index: 0 }));
    events.push(
      sseEvent("message_delta", {
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: parts.length },
      }),
    );
    events.push(sseEvent("message_stop", { type: "message_stop" }));
    return events;
  }

  function openaiStream(model, parts, includeUsage, behavior) {
    const id = `chatcmpl-fake${++counter}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta, finish, extra = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;
    if (behavior.type === "overloaded-in-stream") {
      return [`data: ${JSON.stringify(openaiError("The server is overloaded.", "server_error", "overloaded"))}\n\n`];
    }
    const events = [chunk({ role: "assistant", content: "" }, null)];
    for (const part of parts) events.push(chunk({ content: part }, null));
    events.push(chunk({}, "stop"));
    if (includeUsage) {
      events.push(
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: { ...openaiPromptUsage(), completion_tokens: parts.length, total_tokens: inputTokens + cacheReadTokens + parts.length } })}\n\n`,
      );
    }
    events.push("data: [DONE]\n\n");
    return events;
  }

  async function answerOk(req, res, record, behavior, body) {
    const path = record.path;
    const headers = { "request-id": `req_fake${counter + 1}`, ...(behavior.headers ?? {}) };
    const model = typeof body?.model === "string" ? body.model : "fake-model";
    const parts = splitText(behavior.text ?? text);
    if (req.method === "GET" && path.startsWith("/v1/models")) {
      const payload = req.headers["anthropic-version"]
        ? {
            data: [
              { type: "model", id: "claude-fake-1", display_name: "Claude Fake", created_at: "2025-01-01T00:00:00Z" },
            ],
            has_more: false,
            first_id: "claude-fake-1",
            last_id: "claude-fake-1",
          }
        : { object: "list", data: [{ id: "gpt-fake-1", object: "model", created: 1_700_000_000, owned_by: "fake" }] };
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(JSON.stringify(payload));
      return;
    }
    if (path.startsWith("/v1/messages/count_tokens")) {
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(JSON.stringify({ input_tokens: inputTokens }));
      return;
    }
    if (path.startsWith("/v1/messages")) {
      if (body?.stream === true) {
        res.writeHead(200, {
          ...headers,
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
        });
        await writeEvents(res, record, anthropicStream(model, parts, behavior), behavior);
        return;
      }
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: `msg_fake${++counter}`,
          type: "message",
          role: "assistant",
          model,
          content: [{ type: "text", text: parts.join("") }],
          stop_reason: "end_turn",
          stop_sequence: null,
          usage: {
            input_tokens: inputTokens,
            output_tokens: parts.length,
            cache_creation_input_tokens: cacheWriteTokens,
            cache_read_input_tokens: cacheReadTokens,
          },
        }),
      );
      return;
    }
    if (path.startsWith("/v1/chat/completions")) {
      if (body?.stream === true) {
        res.writeHead(200, {
          ...headers,
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
        });
        await writeEvents(
          res,
          record,
          openaiStream(model, parts, body?.stream_options?.include_usage === true, behavior),
          behavior,
        );
        return;
      }
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: `chatcmpl-fake${++counter}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: parts.join(""), refusal: null },
              logprobs: null,
              finish_reason: "stop",
            },
          ],
          usage: {
            ...openaiPromptUsage(),
            completion_tokens: parts.length,
            total_tokens: inputTokens + cacheReadTokens + parts.length,
          },
        }),
      );
      return;
    }
    if (path.startsWith("/v1/embeddings")) {
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      const vector = [0.1, 0.2, 0.3];
      // The SDK asks for base64 (little-endian float32) by default and decodes it itself.
      const embedding =
        body?.encoding_format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ object: "embedding", index: 0, embedding }],
          model,
          usage: { prompt_tokens: inputTokens, total_tokens: inputTokens },
        }),
      );
      return;
    }
    // The Codex backend serves the same Responses API at <base>/responses (e.g. /backend-api/codex/responses).
    if (path.startsWith("/v1/responses") || path.endsWith("/codex/responses")) {
      const response = (status, content) => ({
        id: `resp_fake${counter}`,
        object: "response",
        created_at: Math.floor(Date.now() / 1000),
        status,
        model,
        output:
          content === undefined
            ? []
            : [
                {
                  type: "message",
                  id: "msg_1",
                  role: "assistant",
                  status,
                  content: [{ type: "output_text", text: content, annotations: [] }],
                },
              ],
        usage:
          status === "completed"
            ? {
                input_tokens: inputTokens + cacheReadTokens,
                input_tokens_details: { cached_tokens: cacheReadTokens },
                output_tokens: parts.length,
                output_tokens_details: { reasoning_tokens: 0 },
                total_tokens: inputTokens + cacheReadTokens + parts.length,
              }
            : null,
      });
      ++counter;
      if (body?.stream === true) {
        res.writeHead(200, {
          ...headers,
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
        });
        let sequence = 0;
        const event = (type, data) => sseEvent(type, { type, sequence_number: sequence++, ...data });
        const item = { type: "message", id: "msg_1", role: "assistant", status: "in_progress", content: [] };
        const events = [
          event("response.created", { response: response("in_progress") }),
          event("response.in_progress", { response: response("in_progress") }),
          event("response.output_item.added", { output_index: 0, item }),
          event("response.content_part.added", {
            item_id: "msg_1",
            output_index: 0,
            content_index: 0,
            part: { type: "output_text", text: "", annotations: [] },
          }),
          ...parts.map((part) =>
            event("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: part }),
          ),
          event("response.output_text.done", {
            item_id: "msg_1",
            output_index: 0,
            content_index: 0,
            text: parts.join(""),
          }),
          event("response.completed", { response: response("completed", parts.join("")) }),
        ];
        await writeEvents(res, record, events, behavior);
        return;
      }
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(JSON.stringify(response("completed", parts.join(""))));
      return;
    }
    // Any other path echoes what arrived, so routing tests can see the path and query the upstream got.
    res.writeHead(200, { ...headers, "content-type": "application/json" });
    res.end(JSON.stringify({ echo: { method: req.method, url: req.url } }));
  }

  async function handle(req, res, raw) {
    const record = {
      index: requests.length,
      at: Date.now(),
      method: req.method,
      url: req.url,
      path: (req.url ?? "/").split("?")[0],
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      body: raw,
      key: keyOf(req.headers),
      behavior: undefined,
      cut: false,
      clientClosed: false,
      finished: false,
    };
    requests.push(record);
    res.on("close", () => {
      if (!res.writableFinished) record.clientClosed = true;
      record.finished = true;
      notify();
    });
    notify();
    const behavior = nextBehavior(record.key);
    record.behavior = behavior.type;
    let body;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // As the real APIs do: a body that is not JSON is the request's fault.
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify(errorBodyFor(record.path, 400, "The request body is not valid JSON.")));
      return;
    }
    if (behavior.delayMs) await sleep(behavior.delayMs);
    switch (behavior.type) {
      case "refuse":
        req.socket.destroy();
        return;
      case "hang":
        // Never answers: a headers timeout or a client abort ends it.
        return;
      case "status": {
        const status = behavior.status;
        const payload = behavior.body ?? errorBodyFor(record.path, status, behavior.message ?? `Fake ${status}`);
        res.writeHead(status, { "content-type": "application/json", ...(behavior.headers ?? {}) });
        res.end(typeof payload === "string" ? payload : JSON.stringify(payload));
        return;
      }
      default:
        await answerOk(req, res, record, behavior, body);
    }
  }

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks).toString("utf8")).catch(() => res.destroy());
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    text,
    requests,
    requestsFor: (key) => requests.filter((record) => record.key === key),
    script(key, ...behaviors) {
      const queue = scripts.get(key) ?? [];
      queue.push(...behaviors);
      scripts.set(key, queue);
    },
    behave(key, behavior) {
      if (behavior) defaults.set(key, behavior);
      else defaults.delete(key);
    },
    reset() {
      requests.length = 0;
      scripts.clear();
      defaults.clear();
    },
    async waitFor(predicate, timeoutMs = 10_000) {
      if (predicate()) return;
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake upstream: condition not met within ${timeoutMs} ms (${requests.length} requests)`));
        }, timeoutMs);
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
