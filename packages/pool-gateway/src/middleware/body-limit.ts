// Refuses oversized bodies before anything parses them. The server also stops reading past the limit.
import { errorResponse } from "../http-errors.js";
import type { Middleware } from "../types.js";

export function createBodyLimitMiddleware(maxBodyBytes: number): Middleware {
  return async (context, next) => {
    const body = context.request.body;
    if (body !== undefined && Buffer.byteLength(body) > maxBodyBytes) {
      return errorResponse("E_TOO_LARGE", `The request body exceeds ${maxBodyBytes} bytes.`);
    }
    return next();
  };
}
