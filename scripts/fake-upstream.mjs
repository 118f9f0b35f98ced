// A local stand-in for the Anthropic and OpenAI APIs, for trying the proxy on a machine that cannot reach them:
// `pnpm fake-upstream [--port 8787]`. It answers every key with the real wire format (JSON, or SSE for stream: true).
import { parseArgs } from "node:util";
import { startFakeUpstream } from "../packages/pool-testkit/src/fake-upstream.mjs";

let values;
try {
  ({ values } = parseArgs({ options: { port: { type: "string", default: "8787" } } }));
} catch (error) {
  console.error(`fake-upstream: ${error.message}`);
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`fake-upstream: --port must be a port number, not "${values.port}"`);
  process.exit(2);
}
let upstream;
try {
  upstream = await startFakeUpstream({ port, text: "Hello from the fake upstream, through credpool." });
} catch (error) {
  console.error(`fake-upstream: cannot listen on 127.0.0.1:${port} (${error.code ?? error.message})`);
  process.exit(1);
}
console.log(`fake upstream on ${upstream.url} (Anthropic /v1/messages, OpenAI /v1/chat/completions); Ctrl-C stops it`);
// The fake keeps a record of every request for tests; a long demo session has no use for it.
setInterval(() => upstream.requests.splice(0), 10_000).unref();
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    void upstream.close().then(() => process.exit(0));
  });
}
