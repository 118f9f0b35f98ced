// The loopback redirect (RFC 8252 7.3): a one-shot HTTP server on 127.0.0.1 that takes the provider's redirect,
// answers once, and closes its port on every way out: an answer, a refusal, the timeout, or an abort (Ctrl-C).
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { PoolError } from "../errors.js";
import type { AuthorizationAnswer } from "./oauth.js";

export interface LoopbackOptions {
  readonly port: number;
  readonly path: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface LoopbackServer {
  readonly port: number;
  /** The first redirect's query, or a rejection (timeout, abort). The port is closed before this settles. */
  readonly answer: Promise<AuthorizationAnswer>;
  close(): Promise<void>;
}

const PAGE_OK =
  "<!doctype html><title>credpool</title><p>Login received. You can close this tab and return to the terminal.</p>";
const PAGE_ERROR = "<!doctype html><title>credpool</title><p>The login did not complete. See the terminal.</p>";

/**
 * Listens on 127.0.0.1:`port`. Resolves undefined when the port is taken (EADDRINUSE or EACCES), so the caller can
 * fall back to pasting; any other failure rejects.
 */
export async function startLoopback(options: LoopbackOptions): Promise<LoopbackServer | undefined> {
  let settle: { resolve: (answer: AuthorizationAnswer) => void; reject: (error: Error) => void } | undefined;
  const answer = new Promise<AuthorizationAnswer>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A rejection nobody awaits yet (the caller may still be printing) must not crash the process.
  answer.catch(() => undefined);
  let done = false;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (done || req.method !== "GET" || url.pathname !== options.path) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    done = true;
    const query = url.searchParams;
    const result: AuthorizationAnswer = {
      code: query.get("code") ?? undefined,
      state: query.get("state") ?? undefined,
      error: query.get("error") ?? undefined,
      errorDescription: query.get("error_description") ?? undefined,
    };
    const ok = result.code !== undefined && result.error === undefined;
    res.writeHead(ok ? 200 : 400, { "content-type": "text/html; charset=utf-8", connection: "close" });
    res.end(ok ? PAGE_OK : PAGE_ERROR, () => void finish(() => settle?.resolve(result)));
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const timers: { deadline?: NodeJS.Timeout } = {};
  const onAbort = (): void =>
    void finish(() => settle?.reject(new PoolError("E_LOGIN_FAILED", "Login cancelled; nothing was stored.")));
  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      done = true;
      clearTimeout(timers.deadline);
      options.signal?.removeEventListener("abort", onAbort);
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  }
  async function finish(then: () => void): Promise<void> {
    await close();
    then();
  }

  const listening = await new Promise<boolean>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE" || error.code === "EACCES") resolve(false);
      else
        reject(
          new PoolError(
            "E_LOGIN_FAILED",
            `Could not listen on 127.0.0.1:${options.port}: ${error.code ?? error.message}`,
          ),
        );
    });
    server.listen(options.port, "127.0.0.1", () => resolve(true));
  });
  if (!listening) return undefined;
  timers.deadline = setTimeout(() => {
    void finish(() =>
      settle?.reject(
        new PoolError(
          "E_LOGIN_FAILED",
          `No redirect reached 127.0.0.1:${options.port} within ${Math.round(options.timeoutMs / 1000)} s; the login timed out and nothing was stored.`,
        ),
      ),
    );
  }, options.timeoutMs);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  const address = server.address();
  return { port: typeof address === "object" && address ? address.port : options.port, answer, close };
}
