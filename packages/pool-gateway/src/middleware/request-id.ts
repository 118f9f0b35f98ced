// Gives every request an id (the caller's X-Request-Id when it is sane) and echoes it on the response.
import { randomBytes } from "node:crypto";
import { header, type Middleware } from "../types.js";

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function createRequestIdMiddleware(): Middleware {
  // A random prefix per handler and a counter: unique and cheap. randomBytes per request was the largest single
  // cost of a lease (bench/groups/gateway.mjs); request ids only need to be unique, not unguessable.
  const prefix = randomBytes(4).toString("hex");
  let counter = 0;
  return async (context, next) => {
    const presented = header(context.request, "x-request-id");
    context.requestId =
      presented && SAFE_ID.test(presented)
        ? presented
        : prefix + (counter = (counter + 1) >>> 0).toString(16).padStart(8, "0");
    const response = await next();
    response.headers["x-request-id"] = context.requestId;
    return response;
  };
}
