// The floor for gateway.vs_bare_http: a plain node:http server that reads each request and answers with a JSON body
// of the same size as the gateway's (the lease body is a real lease response captured by the parent).
import { createServer } from "node:http";
import { failOnError, readFlags, send } from "./ipc.mjs";

failOnError();
const flags = readFlags("leaseBody");
const leaseBody = flags.leaseBody;
const releaseBody = '{"released":true}';
const requestId = "0123456789abcdef";

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const release = request.url.endsWith("/release");
    const body = release ? releaseBody : leaseBody;
    response.writeHead(release ? 200 : 201, {
      "content-type": "application/json",
      "x-request-id": requestId,
      "content-length": Buffer.byteLength(body),
    });
    response.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => send({ type: "listening", url: `http://127.0.0.1:${server.address().port}` }));
