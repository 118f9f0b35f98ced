// A minimal keep-alive HTTP/1.1 client for load generation: prebuilt request bytes on raw sockets and a response
// parser that only reads the status, Content-Length and body. node:http's client costs more CPU per request than
// the servers under test, and on a 2-core box that would measure the load generator instead of the server.
import { connect } from "node:net";

const HEADER_END = Buffer.from("\r\n\r\n");

/** One keep-alive connection; requests on it are sequential (no pipelining). */
export function openConnection(host, port) {
  const socket = connect(port, host);
  socket.setNoDelay(true);
  let buffer = Buffer.alloc(0);
  let pending = null;
  let failure = null;

  const ready = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });

  function fail(error) {
    failure = error;
    if (pending) {
      const { reject } = pending;
      pending = null;
      reject(error);
    }
  }

  function parse() {
    if (!pending) return;
    const headerEnd = buffer.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = buffer.toString("latin1", 0, headerEnd);
    const match = /\r\ncontent-length: *(\d+)/i.exec(head);
    const total = headerEnd + 4 + (match ? Number(match[1]) : 0);
    if (buffer.length < total) return;
    const status = Number(head.slice(9, 12));
    const body = buffer.toString("utf8", headerEnd + 4, total);
    buffer = buffer.subarray(total);
    const { resolve } = pending;
    pending = null;
    resolve({ status, body });
  }

  socket.on("data", (chunk) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    parse();
  });
  socket.on("error", fail);
  socket.on("close", () => fail(failure ?? new Error("connection closed by the server")));

  return {
    ready,
    /** Sends prebuilt request bytes and resolves with `{status, body}`. */
    request(bytes) {
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        socket.write(bytes);
      });
    },
    close() {
      failure ??= new Error("closed");
      socket.destroy();
    },
  };
}

/** Request bytes for a POST with a JSON body. */
export function buildPost(host, port, path, headers, body) {
  const lines = [
    `POST ${path} HTTP/1.1`,
    `Host: ${host}:${port}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`);
}
