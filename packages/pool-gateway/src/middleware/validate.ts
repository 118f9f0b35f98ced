// Parses the JSON body against the route's zod schema; failures are a 400 naming each field path.
import { z } from "zod";
import { errorResponse } from "../http-errors.js";
import type { Middleware, RouteDefinition } from "../types.js";

/** Bodies longer than this are always parsed: the ones that repeat are a few dozen bytes. */
const MAX_REMEMBERED_BODY = 512;
const MAX_REMEMBERED_PER_ROUTE = 256;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export function createValidationMiddleware(): Middleware {
  // JSON.parse plus a zod parse is a sizeable share of a lease's CPU, and workers send the same few bodies over
  // and over. Only accepted bodies of routes marked `repeatableBody` are remembered, frozen so no
  // handler can change what the next request receives.
  const remembered = new Map<RouteDefinition, Map<string, unknown>>();

  return async (context, next) => {
    const { route } = context;
    const schema = route.body;
    if (!schema) return next();
    const text = context.request.body ?? "";
    let cache: Map<string, unknown> | undefined;
    if (route.repeatableBody && text.length <= MAX_REMEMBERED_BODY) {
      cache = remembered.get(route);
      if (!cache) remembered.set(route, (cache = new Map<string, unknown>()));
    }
    const known = cache?.get(text);
    if (known !== undefined) {
      context.body = known;
      return next();
    }
    let value: unknown;
    try {
      value = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      return errorResponse("E_INVALID_INPUT", "The request body is not valid JSON.");
    }
    const result = schema.safeParse(value);
    if (!result.success)
      return errorResponse("E_INVALID_INPUT", `Invalid request body:\n${z.prettifyError(result.error)}`);
    context.body = result.data;
    if (cache && result.data !== undefined) {
      // A client cycling through distinct bodies only ever costs a bounded map; start over when it fills.
      if (cache.size >= MAX_REMEMBERED_PER_ROUTE) cache.clear();
      cache.set(text, deepFreeze(result.data));
    }
    return next();
  };
}
