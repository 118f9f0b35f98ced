// A request body is parsed at most once: the model, the client's limits and the session key all read it, and a
// large prompt costs its parse on every read.
const parsedBodies = new WeakMap<Buffer, unknown>();

/** The body as JSON, or undefined when it is empty or not JSON. */
export function jsonBodyOf(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  if (parsedBodies.has(body)) return parsedBodies.get(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    parsed = undefined;
  }
  parsedBodies.set(body, parsed);
  return parsed;
}
