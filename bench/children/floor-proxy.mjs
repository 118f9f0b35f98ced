// The floor for proxy.vs_floor: the least a pass-through proxy can do on the gateway's own HTTP client (the undici
// Agent of packages/pool-gateway). No auth, no pool, no logs: strip the route prefix, swap in a key, send, and pipe
// the answer back with backpressure.
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { fileURLToPath, pathToFileURL } from "node:url";
import { failOnError, readFlags, send } from "./ipc.mjs";

failOnError();
const { upstream, key } = readFlags("upstream", "key");
// The same undici the gateway resolves, not whatever a bench dependency might bring.
const gatewayPackage = fileURLToPath(new URL("../../packages/pool-gateway/package.json", import.meta.url));
const { Agent } = await import(pathToFileURL(createRequire(gatewayPackage).resolve("undici")).href);

const agent = new Agent();
const origin = new URL(upstream).origin;
const SKIP = new Set(["host", "connection", "keep-alive", "transfer-encoding", "x-api-key", "authorization"]);

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) if (!SKIP.has(name)) headers[name] = value;
    headers["x-api-key"] = key;
    const path = req.url.slice(req.url.indexOf("/", 1));
    agent.request({ origin, path, method: req.method, headers, body: Buffer.concat(chunks) }).then(
      (answer) => {
        const out = {};
        for (const [name, value] of Object.entries(answer.headers)) if (!SKIP.has(name)) out[name] = value;
        res.writeHead(answer.statusCode, out);
        answer.body.pipe(res);
        res.once("close", () => answer.body.destroy());
      },
      () => {
        res.writeHead(502);
        res.end();
      },
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => send({ type: "listening", url: `http://127.0.0.1:${server.address().port}` }));
