// Gives every request an id (the caller's X-Request-Id when it is sane) and echoes it on the response.
import { randomBytes } from "node:crypto";
import { header, type Middleware } from "../types.js";

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function createRequestIdMiddleware(): Middleware {
  return async (context, next) => {
    const presented = header(context.request, "x-request-id");
    context.requestId = presented && SAFE_ID.test(presented) ? presented : randomBytes(8).toString("hex");
    const response = await next();
    response.headers["x-request-id"] = context.requestId;
    return response;
  };
}
