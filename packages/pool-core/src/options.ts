// The one way factories read their options: unknown keys are refused with a "did you mean", every other failure
// is an E_INVALID_OPTIONS rendered by z.prettifyError. config.json uses the same key walk to warn instead.
import { z } from "zod";
import { PoolError, fromZodError } from "./errors.js";

/** An option that is a callback (a hook, a clock, a refresher): checked to be a function, passed through as is. */
export const functionOption = z.custom<(...args: never[]) => unknown>(
  (value) => typeof value === "function",
  "must be a function",
);

/** The zod definition fields the key walk reads; zod 4 keeps them on `_zod.def`. */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** Strips wrappers that do not change which keys an object takes (optional, default, a transform's input, ...). */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (let depth = 0; depth < 20; depth++) {
    const def = defOf(current);
    const next =
      def.innerType ?? (def.type === "pipe" ? def.in : undefined) ?? (def.type === "lazy" ? def.getter?.() : undefined);
    if (next === undefined) return current;
    current = next;
  }
  return current;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function join(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}

/**
 * The dotted paths of keys in `value` that `schema` does not declare, e.g. `totp.lockoutAtempts`. Objects are
 * checked whether the schema strips, passes or rejects unknown keys; record values are checked against their
 * schema; anything else (functions, backends, unions) is a leaf.
 */
export function findUnknownKeys(schema: z.ZodType, value: unknown, prefix = ""): string[] {
  if (!isPlainObject(value)) return [];
  const inner = unwrap(schema);
  const def = defOf(inner);
  const unknown: string[] = [];
  if (def.type === "object" && def.shape) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = Object.hasOwn(def.shape, key) ? def.shape[key] : undefined;
      if (childSchema === undefined) unknown.push(join(prefix, key));
      else unknown.push(...findUnknownKeys(childSchema, child, join(prefix, key)));
    }
  } else if (def.type === "record" && def.valueType) {
    for (const [key, child] of Object.entries(value))
      unknown.push(...findUnknownKeys(def.valueType, child, join(prefix, key)));
  }
  return unknown;
}

/**
 * Every dotted key path `schema` declares, the candidates for a suggestion. A record's entries are listed under
 * the names `value` gives them (`providers.custom:idp.tokenUrl`).
 */
export function listKnownKeys(schema: z.ZodType, value?: unknown, prefix = ""): string[] {
  const def = defOf(unwrap(schema));
  const given = isPlainObject(value) ? value : {};
  if (def.type === "record" && def.valueType) {
    const valueType = def.valueType;
    return Object.entries(given).flatMap(([key, child]) => listKnownKeys(valueType, child, join(prefix, key)));
  }
  if (def.type !== "object" || !def.shape) return [];
  return Object.entries(def.shape).flatMap(([key, child]) => [
    join(prefix, key),
    ...listKnownKeys(child, given[key], join(prefix, key)),
  ]);
}

/** Edit distance where swapping two neighbours counts as one edit (the commonest typo). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      row[j] = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(at(i, j), at(i - 2, j - 2) + 1);
    }
  }
  return at(a.length, b.length);
}

function lastSegment(path: string): { parent: string; name: string } {
  const dot = path.lastIndexOf(".");
  return dot === -1 ? { parent: "", name: path } : { parent: path.slice(0, dot), name: path.slice(dot + 1) };
}

/**
 * The known key `unknownPath` most likely meant: a near spelling beside it (`totp.lockoutAtempts` →
 * `totp.lockoutAttempts`), else the same or a near name at another level (`path` → `file.path`).
 */
export function suggestKey(unknownPath: string, candidates: readonly string[]): string | undefined {
  const { parent, name } = lastSegment(unknownPath);
  const limit = name.length <= 4 ? 1 : 2;
  let best: { key: string; score: number } | undefined;
  for (const candidate of candidates) {
    const other = lastSegment(candidate);
    const distance = editDistance(name, other.name);
    if (distance > limit) continue;
    // A key beside the unknown one beats the same name elsewhere; a shallower key beats a deeper one.
    const score = distance * 10 + (other.parent === parent ? 0 : 5) + candidate.split(".").length;
    if (best === undefined || score < best.score) best = { key: candidate, score };
  }
  return best?.key;
}

/** "unknown option `path`; did you mean `file.path`?" */
export function describeUnknownKey(path: string, candidates: readonly string[], noun = "option"): string {
  const suggestion = suggestKey(path, candidates);
  return `unknown ${noun} \`${path}\`${suggestion === undefined ? "" : `; did you mean \`${suggestion}\`?`}`;
}

/**
 * Validates a factory's options before it does any I/O. Unknown keys, at any depth, and invalid values are
 * E_INVALID_OPTIONS naming the option; the zod error is the `cause`. `what` names the options, e.g. "pool options".
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const unknown = findUnknownKeys(schema, value);
  if (unknown.length > 0) {
    const candidates = listKnownKeys(schema, value);
    throw new PoolError(
      "E_INVALID_OPTIONS",
      `Invalid ${what}: ${unknown.map((path) => describeUnknownKey(path, candidates)).join("; ")}`,
      {
        details: { unknownOptions: unknown },
      },
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError("E_INVALID_OPTIONS", `Invalid ${what}`, parsed.error);
  return parsed.data;
}
