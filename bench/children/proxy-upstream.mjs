// The upstream for the proxy group: a lean node:http server speaking the Anthropic Messages and OpenAI chat wire
// formats, in its own process. It records nothing per request (the testkit's fake keeps every request, which would
// grow without bound over a benchmark). What it does is chosen by the request:
//   - a key starting with `sk-throttle` gets a 429 with `retry-after: 1` in the provider's error format (counted,
//     and the count is sent on a `count` message);
//   - `stream: true` gets an SSE answer of `bench_events` deltas, one every `bench_interval_ms`, each carrying the
//     time it was written (`bench_ts`, on the clock lib/stats.mjs sharedNow shares across processes);
//   - `bench_bytes: N` gets an SSE answer of N bytes of deltas, written as fast as the reader takes them;
//   - anything else gets a small JSON answer.
import { createServer } from "node:http";
import { failOnError, onMessages, send, sharedNow, sleep } from "./ipc.mjs";

failOnError();
/** 429s served, so the failover phase can show the throttling happened. */
let throttled = 0;
onMessages("count", (message) => send({ type: "counted", id: message.id, throttled }));

const messageJson = JSON.stringify({
  id: "msg_bench",
  type: "message",
  role: "assistant",
  model: "claude-bench-1",
  content: [{ type: "text", text: "Hello from the bench upstream." }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
});
const chatJson = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-bench-1",
  choices: [
    { index: 0, message: { role: "assistant", content: "Hello from the bench upstream." }, finish_reason: "stop" },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 },
});
const anthropicThrottle = JSON.stringify({
  type: "error",
  error: { type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit" },
});
const openaiThrottle = JSON.stringify({
  error: { message: "Rate limit reached for requests", type: "rate_limit_exceeded", param: null, code: null },
});

const SSE_HEAD = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
const PRELUDE =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant",' +
  '"model":"claude-bench-1","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n';
const CLOSING =
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

function delta(text, ts) {
  const stamp = ts === undefined ? "" : `,"bench_ts":${ts}`;
  return `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${text}"}${stamp}}\n\n`;
}

function write(res, chunk) {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function timedEvents(res, count, intervalMs) {
  res.writeHead(200, SSE_HEAD);
  // The prelude and the first delta go in one write, as a provider's first flush does.
  res.write(PRELUDE + delta("word ", sharedNow()));
  for (let i = 1; i < count && !res.destroyed; i++) {
    await sleep(intervalMs);
    await write(res, delta("word ", sharedNow()));
  }
  res.end(CLOSING);
}

async function bulk(res, bytes) {
  res.writeHead(200, SSE_HEAD);
  const event = delta("x".repeat(16 * 1024));
  res.write(PRELUDE);
  let sent = 0;
  while (sent < bytes && !res.destroyed) {
    await write(res, event);
    sent += event.length;
  }
  res.end(CLOSING);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const openai = req.url.includes("/chat/completions");
    const key = req.headers["x-api-key"] ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    if (key.startsWith("sk-throttle")) {
      throttled++;
      const body = openai ? openaiThrottle : anthropicThrottle;
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
      res.end(body);
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    if (typeof body.bench_bytes === "number") {
      void bulk(res, body.bench_bytes);
      return;
    }
    if (body.stream === true) {
      void timedEvents(res, body.bench_events ?? 20, body.bench_interval_ms ?? 5);
      return;
    }
    const answer = openai ? chatJson : messageJson;
    res.writeHead(200, {
      "content-type": "application/json",
      "request-id": "req_bench",
      "content-length": Buffer.byteLength(answer),
    });
    res.end(answer);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => send({ type: "listening", url: `http://127.0.0.1:${server.address().port}` }));
