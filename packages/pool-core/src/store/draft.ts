// The in-memory half of a file-backend commit, at a cost that grows with the change rather than the document:
// mutators run on lazy drafts of a frozen committed document, only what changed is validated again, and the
// text of unchanged parts is reused. The file backend (file-backend.ts) does the locking and the I/O.
import type { z } from "zod";
import { parseDocument } from "./json-file.js";
import { credentialSchema, poolDocumentSchema, type PoolDocument } from "./schema.js";

/**
 * What we know of a value we froze all the way down (sealed): safe to share between committed documents and with
 * callers, since nothing can change them. A committed document is one of these; each commit shares its unchanged
 * parts with the last.
 *
 * Kept on the value itself, in a non-enumerable symbol property that JSON, Object.keys and spreads do not see, and
 * not in WeakMaps: V8's scavenger keeps a WeakMap entry whose key died young alive until the next full GC, so a
 * few entries per commit made every scavenge copy hundreds of kilobytes and pause the event loop for 5-7 ms
 * (store.commit.loop_delay_max_ms in bench/groups/store.mjs).
 */
interface Meta {
  /** How many containers it holds, itself included, counted up to just past LAZY_MIN (see draftOf). */
  readonly weight: number;
  /** A credential or credential list the schema accepted. */
  valid?: true;
  /** Its serialized text at `depth`, for writeValue. */
  fragment?: { depth: number; pieces: readonly string[] };
}

const META = Symbol("credpool.sealed");
/** For a value frozen before we could mark it (a caller's own frozen object): rare, so a WeakMap will do. */
const frozenMeta = new WeakMap<object, Meta>();

function metaOf(value: object): Meta | undefined {
  return (value as { [META]?: Meta })[META] ?? frozenMeta.get(value);
}

type Json = Record<string, unknown> | unknown[];

/** Values holding more containers than this are drafted lazily (see draftOf). */
const LAZY_MIN = 32;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null;
}

function isPlain(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Freezes `value` and everything under it that is not sealed yet; returns it. */
export function seal<T>(value: T): T {
  if (!isObject(value) || metaOf(value) !== undefined) return value;
  if (Array.isArray(value)) {
    for (const item of value) seal(item);
  } else {
    for (const key of Object.keys(value)) seal(value[key]);
  }
  markSealed(value);
  return value;
}

/**
 * Marks and freezes a value whose children are all sealed already. Its weight lets a draft copy a light value at
 * once and draft a heavy one (the document, a provider, a long credential list) lazily.
 */
function markSealed(value: Json): void {
  let weight = 1;
  const items = Array.isArray(value) ? value : Object.values(value);
  if (items.length > LAZY_MIN) weight = LAZY_MIN + 1;
  else {
    for (const item of items) {
      if (isObject(item)) weight += metaOf(item)?.weight ?? LAZY_MIN + 1;
      if (weight > LAZY_MIN) break;
    }
  }
  const meta: Meta = { weight: Math.min(weight, LAZY_MIN + 1) };
  if (Object.isExtensible(value)) Object.defineProperty(value, META, { value: meta });
  else frozenMeta.set(value, meta);
  Object.freeze(value);
}

export function isSealed(value: unknown): boolean {
  return isObject(value) && metaOf(value) !== undefined;
}

/** Sets a property the way JSON.parse would, so a key named `__proto__` stays a plain key. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

// Drafts. Small containers are copied at once; large ones (a provider's credentials) are proxies that copy an
// entry only when it is touched, so a mutator pays for what it reads, not for the whole pool. What a mutator gets
// (and may keep after the commit) is always its own: plain copies, or such a proxy over its own target.

interface LazyState {
  /** A shallow copy of `base`; entries in `own` hold draft values, the others still the sealed base values. */
  readonly target: Json;
  readonly base: Json;
  readonly own: Set<string>;
  /** Entries drafted on read; once every entry of a list is, it is handed out as the plain list it now is. */
  drafted: number;
  complete: boolean;
}

/** Whether every entry of a lazy list is a draft value: then the proxy in front of it only slows reads down. */
function isComplete(state: LazyState): boolean {
  const { target, own } = state;
  if (!Array.isArray(target)) return false;
  for (let i = 0; i < target.length; i++) if (!own.has(String(i)) && isObject(target[i])) return false;
  return true;
}

/** A lazy draft's state, answered by its proxy (not a WeakMap: see Meta). */
const LAZY = Symbol("credpool.lazy");
/** A draft copy's sealed original, kept on the copy: when the copy comes back unchanged, the original is kept. */
const ORIGIN = Symbol("credpool.origin");

function lazyStateOf(value: object): LazyState | undefined {
  return (value as { [LAZY]?: LazyState })[LAZY];
}

function originOf(value: object): object | undefined {
  return Object.hasOwn(value, ORIGIN) ? (value as { [ORIGIN]: object })[ORIGIN] : undefined;
}

function setOrigin(copy: object, origin: object): void {
  Object.defineProperty(copy, ORIGIN, { value: origin, configurable: true });
}

function lazyHandler(state: LazyState): ProxyHandler<Json> {
  const { target, own } = state;
  const table = target as Record<string, unknown>;
  return {
    get(t, key, receiver) {
      if (key === LAZY) return state;
      if (typeof key === "string" && Object.hasOwn(t, key)) {
        const value = table[key];
        if (!own.has(key)) {
          if (isObject(value)) {
            table[key] = draftOf(value);
            own.add(key);
            if (++state.drafted >= (t as unknown[]).length) state.complete = isComplete(state);
          }
        } else if (isObject(value)) {
          // A list read through from end to end (a mutator that scans the credentials): the next reader gets the
          // plain list, which finalize() still compares with its original.
          const child = lazyStateOf(value);
          if (child?.complete === true) {
            setOrigin(child.target, child.base);
            table[key] = child.target;
          }
        }
      }
      return Reflect.get(t, key, receiver) as unknown;
    },
    set(t, key, value) {
      if (typeof key === "string") own.add(key);
      return Reflect.set(t, key, value);
    },
    defineProperty(t, key, descriptor) {
      if (typeof key === "string") own.add(key);
      return Reflect.defineProperty(t, key, descriptor);
    },
    deleteProperty(t, key) {
      // Marked as ours: finalizeLazy() then sees the entry is gone.
      if (typeof key === "string") own.add(key);
      return Reflect.deleteProperty(t, key);
    },
  };
}

/** A mutable copy of a sealed value, for one mutator. */
export function draftOf<T>(value: T): T {
  if (!isObject(value)) return value;
  const meta = metaOf(value);
  if (meta === undefined) throw new TypeError("draftOf() needs a sealed value");
  if (meta.weight > LAZY_MIN && isPlain(value)) {
    const target: Json = Array.isArray(value) ? value.slice() : { ...value };
    const state: LazyState = { target, base: value, own: new Set(), drafted: 0, complete: false };
    return new Proxy(target, lazyHandler(state)) as T;
  }
  let copy: Json;
  if (Array.isArray(value)) {
    copy = value.map((item: unknown) => draftOf(item));
  } else if (isPlain(value)) {
    const record: Record<string, unknown> =
      Object.getPrototypeOf(value) === null ? (Object.create(null) as Record<string, unknown>) : {};
    for (const key of Object.keys(value)) setOwn(record, key, draftOf(value[key]));
    copy = record;
  } else {
    // Not JSON-shaped (finalize() turns such values into JSON); nothing of ours to protect inside.
    return value;
  }
  setOrigin(copy, value);
  return copy as T;
}

/**
 * What a mutator left, as a sealed value that shares every unchanged part with the document it was drafted from.
 * The mutator's own objects are never sealed: it may still hold them, and changing them later must not reach a
 * committed document.
 */
export function finalizeDraft<T>(value: T): T {
  return finalizeValue(value) as T;
}

function finalizeValue(value: unknown): unknown {
  if (!isObject(value) || isSealed(value)) return value;
  const lazy = lazyStateOf(value);
  if (lazy !== undefined) return finalizeLazy(lazy);
  if (!isPlain(value) || typeof (value as { toJSON?: unknown }).toJSON === "function") {
    // A Date or class instance: keep what the file will hold, as the next read would give it.
    const text = JSON.stringify(value);
    return text === undefined ? undefined : seal(JSON.parse(text) as unknown);
  }
  const origin = originOf(value);
  let same = origin !== undefined && Array.isArray(origin) === Array.isArray(value);
  let out: Json;
  if (Array.isArray(value)) {
    const list = new Array<unknown>(value.length);
    const before = origin as unknown[] | undefined;
    if (same && before!.length !== value.length) same = false;
    for (let i = 0; i < value.length; i++) {
      list[i] = finalizeValue(value[i]);
      if (same && list[i] !== before![i]) same = false;
    }
    out = list;
  } else {
    const record: Record<string, unknown> =
      Object.getPrototypeOf(value) === null ? (Object.create(null) as Record<string, unknown>) : {};
    const keys = Object.keys(value);
    const before = origin as Record<string, unknown> | undefined;
    const beforeKeys = same ? Object.keys(before!) : [];
    if (same && beforeKeys.length !== keys.length) same = false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const item = finalizeValue(value[key]);
      setOwn(record, key, item);
      if (same && (beforeKeys[i] !== key || before![key] !== item)) same = false;
    }
    out = record;
  }
  if (same) return origin;
  markSealed(out);
  return out;
}

function finalizeLazy(state: LazyState): unknown {
  const { target, base, own } = state;
  // Never written, nor read into (every change goes through a trap that records its key): nothing to copy.
  if (own.size === 0) return base;
  let changed = false;
  let out: Json;
  if (Array.isArray(target)) {
    const list = target.slice();
    const before = base as unknown[];
    if (list.length !== before.length) changed = true;
    for (const key of own) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= list.length) continue;
      list[index] = finalizeValue(target[index]);
      if (list[index] !== before[index]) changed = true;
    }
    out = list;
  } else {
    const record: Record<string, unknown> = {};
    const before = base as Record<string, unknown>;
    const keys = Object.keys(target);
    const beforeKeys = Object.keys(before);
    if (keys.length !== beforeKeys.length) changed = true;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const item = own.has(key) ? finalizeValue(target[key]) : target[key];
      setOwn(record, key, item);
      if (!changed && (beforeKeys[i] !== key || before[key] !== item)) changed = true;
    }
    out = record;
  }
  if (!changed) return base;
  // Entries not in `own` are sealed base values; the ones in it were finalized above.
  markSealed(out);
  return out;
}

// Applying a batch: the mutators share one lazy draft, so what they read is copied once per commit, not once per
// mutator. One that throws is rolled back by drafting again and running the ones before it again (mutators may
// run again on newer state by contract); failures are rare.

export type MutatorOutcome<D> = { ok: true; doc: D } | { ok: false; error: unknown };

export interface BatchResult<D, Op> {
  readonly doc: D;
  readonly applied: Op[];
  readonly failed: Array<[Op, unknown]>;
}

/** Runs the ops in order on a draft of `base` (sealed); the result is sealed and shares what they left alone. */
export function applyMutators<D, Op>(
  base: D,
  ops: readonly Op[],
  run: (op: Op, draft: D) => MutatorOutcome<D>,
): BatchResult<D, Op> {
  let draft = draftOf(base);
  let applied: Op[] = [];
  const failed: Array<[Op, unknown]> = [];
  for (const op of ops) {
    const outcome = run(op, draft);
    if (outcome.ok) {
      draft = outcome.doc;
      applied.push(op);
      continue;
    }
    failed.push([op, outcome.error]);
    const redo = applied;
    applied = [];
    draft = draftOf(base);
    for (const earlier of redo) {
      const again = run(earlier, draft);
      if (!again.ok) {
        // Not deterministic: it succeeded once and failed now. Treat it as failed, and go one by one.
        failed.push([earlier, again.error]);
        return applyOneByOne(base, ops, run, failed);
      }
      draft = again.doc;
      applied.push(earlier);
    }
  }
  try {
    return { doc: finalizeDraft(draft), applied, failed };
  } catch {
    // A cycle, or a value JSON cannot hold: find whose, one by one.
    return applyOneByOne(base, ops, run, failed);
  }
}

/** The rare path: each op on its own draft of the result so far, so any failure stays with its op. */
function applyOneByOne<D, Op>(
  base: D,
  ops: readonly Op[],
  run: (op: Op, draft: D) => MutatorOutcome<D>,
  failed: Array<[Op, unknown]>,
): BatchResult<D, Op> {
  const rejected = new Set(failed.map(([op]) => op));
  let doc = base;
  const applied: Op[] = [];
  for (const op of ops) {
    if (rejected.has(op)) continue;
    const outcome = run(op, draftOf(doc));
    if (!outcome.ok) {
      failed.push([op, outcome.error]);
      continue;
    }
    try {
      doc = finalizeDraft(outcome.doc);
      applied.push(op);
    } catch (error) {
      failed.push([op, error]);
    }
  }
  return { doc, applied, failed };
}

/**
 * `parsed` (fresh from JSON.parse) with every part that equals the same part of `previous` (a sealed, validated
 * document) replaced by that part, keys in the same order: a watcher taking in a new revision then validates and
 * seals only what changed.
 */
export function reuseUnchanged<T>(parsed: T, previous: unknown): T {
  return reuseValue(parsed, previous) as T;
}

function reuseValue(value: unknown, previous: unknown): unknown {
  if (!isObject(value) || !isObject(previous) || !isSealed(previous)) return value;
  if (Array.isArray(value)) {
    if (!Array.isArray(previous)) return value;
    let same = value.length === previous.length;
    for (let i = 0; i < value.length; i++) {
      const item = reuseValue(value[i], i < previous.length ? previous[i] : undefined);
      value[i] = item;
      if (same && item !== previous[i]) same = false;
    }
    return same ? previous : value;
  }
  if (Array.isArray(previous)) return value;
  const before = previous;
  const keys = Object.keys(value);
  const beforeKeys = Object.keys(before);
  let same = keys.length === beforeKeys.length;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const item = reuseValue(value[key], Object.hasOwn(before, key) ? before[key] : undefined);
    if (item !== value[key]) setOwn(value, key, item);
    if (same && (beforeKeys[i] !== key || item !== before[key])) same = false;
  }
  return same ? previous : value;
}

/**
 * Whether `a` and `b` may serialize differently: a value, a key, or a key's place differs, or either holds an object
 * that is not plain data (a Date). Parts a commit left alone are the same objects (drafts share them), so this walks
 * only the changed paths. False means the same JSON; the file's own text may still differ (a hand-edited format).
 */
export function differs(a: unknown, b: unknown): boolean {
  if (a === b) return false;
  if (!isObject(a) || !isObject(b) || !isPlain(a) || !isPlain(b)) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return true;
    for (let i = 0; i < a.length; i++) if (differs(a[i], b[i])) return true;
    return false;
  }
  if (Array.isArray(b)) return true;
  const keys = Object.keys(a);
  const otherKeys = Object.keys(b);
  if (keys.length !== otherKeys.length) return true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (otherKeys[i] !== key || differs(a[key], b[key])) return true;
  }
  return false;
}

// Validation of what changed. The pool's credentials are validated one by one, and one that is sealed and was
// validated before is taken as it is; the rest of the document is small and validated whole. Any failure is
// reported by a full parse, so errors read exactly as they did.

export type Validation<D> = { success: true; data: D } | { success: false; error: z.ZodError };

/**
 * Whether a sealed credential, or a sealed list of them, is known good. A list a commit left alone is then taken
 * whole, not checked entry by entry.
 */
function isValid(value: unknown): boolean {
  return isObject(value) && metaOf(value)?.valid === true;
}

function markValid(value: object): void {
  const meta = metaOf(value);
  if (meta !== undefined) meta.valid = true;
}

/** Marks a validated (schema output) pool document as trusted: sealed, its credentials known good. */
export function trustPoolDocument(doc: PoolDocument): PoolDocument {
  seal(doc);
  for (const pool of Object.values(doc.providers)) {
    for (const credential of pool.credentials) markValid(credential);
    markValid(pool.credentials);
  }
  return doc;
}

/** `poolDocumentSchema.safeParse(next)`, validating again only credentials that are not known good. Sealed output. */
export function validatePoolDocument(next: unknown): Validation<PoolDocument> {
  const providers = isObject(next) ? (next as { providers?: unknown }).providers : undefined;
  if (!isObject(providers) || Array.isArray(providers) || !isPlain(providers)) return validateWhole(next);
  // The document with every credential list emptied: what is left of it is small.
  const shellProviders: Record<string, unknown> = {};
  const lists = new Map<string, unknown[]>();
  for (const name of Object.keys(providers)) {
    const pool = providers[name];
    const credentials = isObject(pool) ? (pool as { credentials?: unknown }).credentials : undefined;
    if (isObject(pool) && isPlain(pool) && !Array.isArray(pool) && Array.isArray(credentials)) {
      lists.set(name, credentials);
      setOwn(shellProviders, name, { ...pool, credentials: [] });
    } else {
      setOwn(shellProviders, name, pool);
    }
  }
  const shell = poolDocumentSchema.safeParse({ ...(next as object), providers: shellProviders });
  if (!shell.success) return validateWhole(next);
  const doc = shell.data;
  for (const [name, credentials] of lists) {
    const pool = doc.providers[name];
    if (pool === undefined) return validateWhole(next);
    if (isValid(credentials)) {
      pool.credentials = credentials as typeof pool.credentials;
      continue;
    }
    let same = isSealed(credentials);
    const list = new Array<PoolDocument["providers"][string]["credentials"][number]>(credentials.length);
    for (let i = 0; i < credentials.length; i++) {
      const credential = credentials[i];
      if (isValid(credential)) {
        list[i] = credential as (typeof list)[number];
        continue;
      }
      same = false;
      const checked = credentialSchema.safeParse(credential);
      if (!checked.success) return validateWhole(next);
      list[i] = seal(checked.data);
      markValid(list[i]!);
    }
    // An unchanged list keeps its identity, and with it its serialized text.
    pool.credentials = same ? (credentials as typeof list) : list;
  }
  seal(doc);
  // Marked once sealed (with the document, just above): the mark lives on the sealed value.
  for (const name of lists.keys()) markValid(doc.providers[name]!.credentials);
  return { success: true, data: doc };
}

function validateWhole(next: unknown): Validation<PoolDocument> {
  const result = poolDocumentSchema.safeParse(next);
  if (!result.success) return { success: false, error: result.error };
  return { success: true, data: trustPoolDocument(result.data) };
}

/**
 * `parseDocument`, sealed, taking the parts equal to `previous` (the sealed document last read or written) from it,
 * so that only what changed is validated and sealed. Without `validate` (or a previous document) it parses whole;
 * any failure is reported by `parseDocument` itself, so errors read as they did.
 */
export function parseDocumentReusing<D>(
  path: string,
  text: string,
  spec: { schema: z.ZodType<D>; validate?: (doc: unknown) => Validation<D>; trust?: (doc: D) => D },
  previous: D | undefined,
): D {
  const trust = spec.trust ?? seal;
  if (previous === undefined || spec.validate === undefined) return trust(parseDocument(path, text, spec.schema));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return parseDocument(path, text, spec.schema);
  }
  const checked = spec.validate(reuseUnchanged(value, previous));
  return checked.success ? checked.data : trust(parseDocument(path, text, spec.schema));
}

// Serializing with reuse: `serializeDocument` (JSON.stringify with a 2-space indent) gives the same bytes, but
// the text of a sealed array, and of a sealed object inside an array (a credential), is kept and reused.

/**
 * A sealed list longer than this is written in runs of this many entries, each run's text kept: a change to one
 * entry of 10,000 then joins one run again, not 7 MB of text (which cost 5-20 ms), and the list's text is its runs.
 */
const RUN = 256;
interface Run {
  readonly depth: number;
  readonly first: boolean;
  /** Whether a list's run from the same first entry still holds the same ones. */
  readonly entries: readonly unknown[];
  readonly text: string;
}
/**
 * Runs by their first entry, held weakly: only the lists written from them keep them (`listRuns`). An entry outlives
 * the runs it started (a list that shifted by one no longer starts a run with it); held strongly, every entry could
 * keep a run of its own, 256 times the list's text in all.
 */
const runs = new WeakMap<object, WeakRef<Run>>();
const listRuns = new WeakMap<object, Run[]>();
const indents: string[] = [""];

function indentOf(depth: number): string {
  while (indents.length <= depth) indents.push(`${indents[indents.length - 1]}  `);
  return indents[depth]!;
}

/** Exactly `JSON.stringify(value, null, 2)`, reusing the text of sealed parts serialized before. */
export function serializeWithReuse(value: unknown): string {
  // Pieces joined once: the large ones (a provider's credentials) are copied into the result only there.
  return serializePieces(value).join("");
}

/** `serializeWithReuse(value)` as the pieces it joins, to compare with a text without building another one. */
export function serializePieces(value: unknown): string[] {
  const out: string[] = [];
  if (!writeValue(out, value, 0, false)) return [JSON.stringify(value, null, 2)];
  return out;
}

/**
 * Whether `pieces` joined would equal `text`, itself given whole or as pieces (what a commit wrote). Pieces that are
 * the same string (a reused fragment) compare at once; nothing is joined.
 */
export function piecesEqual(pieces: readonly string[], text: string | readonly string[]): boolean {
  const other = typeof text === "string" ? [text] : text;
  let length = 0;
  for (const piece of pieces) length += piece.length;
  for (const piece of other) length -= piece.length;
  if (length !== 0) return false;
  // Walks both lists at once: `other[index]` from `offset` on is what the next piece must match.
  let index = 0;
  let offset = 0;
  for (const piece of pieces) {
    let at = 0;
    while (at < piece.length) {
      while (other[index]!.length === offset) {
        index++;
        offset = 0;
      }
      const target = other[index]!;
      const take = Math.min(piece.length - at, target.length - offset);
      if (take === piece.length && take === target.length) {
        if (piece !== target) return false;
      } else if (!target.startsWith(take === piece.length ? piece : piece.slice(at, at + take), offset)) {
        return false;
      }
      at += take;
      offset += take;
    }
  }
  return true;
}

export interface PieceEncoder {
  /** `pieces` joined, as UTF-8; valid until the next call. */
  encode(pieces: readonly string[]): Uint8Array;
  /** Lets go of the memory. */
  release(): void;
}

/** Memory kept for a document this much smaller than it is given back. */
const SHRINK_FACTOR = 4;
const SHRINK_MIN = 1 << 20;

/**
 * Writes a commit's text as UTF-8 into shared memory that the commit worker reads where it is: a string posted to
 * the worker is copied twice and encoded again there, which for a large pool cost more than the write itself. The
 * memory is reused by the next commit, since fresh pages for a large pool cost several times the encoding; so one
 * encoder serves one commit at a time.
 */
export function createPieceEncoder(): PieceEncoder {
  const encoder = new TextEncoder();
  let memory: Uint8Array | null = null;

  function allocate(bytes: number): Uint8Array {
    memory = new Uint8Array(new SharedArrayBuffer(Math.ceil(bytes * 1.25) + 1024));
    return memory;
  }

  /** The bytes written, or -1 when they do not fit. */
  function encodeInto(target: Uint8Array, pieces: readonly string[]): number {
    let offset = 0;
    for (const piece of pieces) {
      const { read, written } = encoder.encodeInto(piece, target.subarray(offset));
      if (read !== piece.length) return -1;
      offset += written;
    }
    return offset;
  }

  return {
    encode(pieces) {
      let units = 0;
      for (const piece of pieces) units += piece.length;
      // Each UTF-16 unit takes at least one byte: with room for that much, ASCII text fits at the first try.
      let target = memory;
      if (
        target === null ||
        target.length < units ||
        (target.length > SHRINK_MIN && target.length > SHRINK_FACTOR * units)
      ) {
        target = allocate(units);
      }
      let written = encodeInto(target, pieces);
      if (written < 0) {
        let bytes = 0;
        for (const piece of pieces) bytes += Buffer.byteLength(piece, "utf8");
        target = allocate(bytes);
        written = encodeInto(target, pieces);
      }
      return target.subarray(0, written);
    },
    release() {
      memory = null;
    },
  };
}

/** Appends the text of `value` nested `depth` levels deep; false where JSON.stringify would leave it out. */
function writeValue(out: string[], value: unknown, depth: number, inArray: boolean): boolean {
  if (!isObject(value) || !isPlain(value) || typeof (value as { toJSON?: unknown }).toJSON === "function") {
    const text = JSON.stringify(value, null, 2) as string | undefined;
    if (text === undefined) return false;
    out.push(isObject(value) ? text.replaceAll("\n", `\n${indentOf(depth)}`) : text);
    return true;
  }
  const meta = metaOf(value);
  if (meta !== undefined && (inArray || Array.isArray(value))) {
    let cached = meta.fragment;
    if (cached === undefined || cached.depth !== depth) {
      const own: string[] = [];
      writeContainer(own, value, depth);
      cached = { depth, pieces: isLong(value) ? own : [own.join("")] };
      meta.fragment = cached;
    }
    for (const piece of cached.pieces) out.push(piece);
    return true;
  }
  writeContainer(out, value, depth);
  return true;
}

function writeContainer(out: string[], value: Json, depth: number): void {
  const inner = indentOf(depth + 1);
  const isArray = Array.isArray(value);
  out.push(isArray ? "[" : "{");
  const start = out.length;
  if (isLong(value)) {
    const used: Run[] = [];
    for (let from = 0; from < value.length; from += RUN) {
      const run = runOf(value, from, depth);
      used.push(run);
      out.push(run.text);
    }
    listRuns.set(value, used);
  } else if (isArray) {
    for (const item of value) {
      out.push(out.length === start ? `\n${inner}` : `,\n${inner}`);
      if (!writeValue(out, item, depth + 1, true)) out.push("null");
    }
  } else {
    for (const key of Object.keys(value)) {
      const mark = out.length;
      out.push(`${mark === start ? "\n" : ",\n"}${inner}${JSON.stringify(key)}: `);
      if (!writeValue(out, value[key], depth + 1, false)) out.length = mark;
    }
  }
  out.push(out.length === start ? (isArray ? "]" : "}") : `\n${indentOf(depth)}${isArray ? "]" : "}"}`);
}

/** A sealed list written in runs: its entries are sealed too, so a run's text stays right while it holds them. */
function isLong(value: Json): value is unknown[] {
  return Array.isArray(value) && value.length > RUN && isSealed(value);
}

/** The entries of `list` from `from` on (at most RUN), each after its separator, as writeContainer writes them. */
function runOf(list: readonly unknown[], from: number, depth: number): Run {
  const to = Math.min(list.length, from + RUN);
  const key = list[from];
  const cached = isObject(key) ? runs.get(key)?.deref() : undefined;
  if (cached?.depth === depth && cached.first === (from === 0) && sameEntries(cached.entries, list, from, to)) {
    return cached;
  }
  const inner = indentOf(depth + 1);
  const own: string[] = [];
  for (let i = from; i < to; i++) {
    own.push(i === 0 ? `\n${inner}` : `,\n${inner}`);
    if (!writeValue(own, list[i], depth + 1, true)) own.push("null");
  }
  const run: Run = { depth, first: from === 0, entries: list.slice(from, to), text: own.join("") };
  if (isObject(key)) runs.set(key, new WeakRef(run));
  return run;
}

/** Index by index: every() would skip a hole. */
function sameEntries(entries: readonly unknown[], list: readonly unknown[], from: number, to: number): boolean {
  if (entries.length !== to - from) return false;
  for (let i = 0; i < entries.length; i++) if (entries[i] !== list[from + i]) return false;
  return true;
}
