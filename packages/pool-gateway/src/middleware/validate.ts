// Parses the JSON body against the route's zod schema; failures are a 400 naming each field path.
import { z } from "zod";
import { errorResponse } from "../http-errors.js";
import type { Middleware } from "../types.js";

export function createValidationMiddleware(): Middleware {
  return async (context, next) => {
    const schema = context.route.body;
    if (!schema) return next();
    const text = context.request.body ?? "";
    let value: unknown;
    try {
      value = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      return errorResponse("E_INVALID_INPUT", "The request body is not valid JSON.");
    }
    const result = schema.safeParse(value);
    if (!result.success) return errorResponse("E_INVALID_INPUT", `Invalid request body:\n${z.prettifyError(result.error)}`);
    context.body = result.data;
    return next();
  };
}
