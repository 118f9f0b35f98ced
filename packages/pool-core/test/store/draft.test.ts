// Lazy drafts, incremental validation and serialization with reuse (src/store/draft.ts), against the plain
// versions they replace: structuredClone per mutator, a full schema parse, and JSON.stringify of the whole document.
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createFileBackend,
  poolDocumentSchema,
  serializeDocument,
  type Credential,
  type PoolDocument,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import {
  applyMutators,
  createPieceEncoder,
  differs,
  isSealed,
  piecesEqual,
  seal,
  serializePieces,
  serializeWithReuse,
  trustPoolDocument,
  validatePoolDocument,
  type MutatorOutcome,
} from "../../src/store/draft.js";

type Edit = (doc: PoolDocument) => PoolDocument | void;

function credential(provider: string, i: number): Credential {
  return {
    id: `${provider}-${i}`,
    label: `Key ${i}`,
    provider,
    kind: "api_key",
    priority: i % 3,
    source: "manual",
    secrets: { apiKey: `sk-${provider}-${i}` },
    tokenGeneration: 0,
    status: { state: "ok" },
    usage: { requests: i, failures: 0 },
  };
}

/** A trusted (sealed, validated) pool: `big` credentials in "bulk" (drafted lazily), 3 in "small". */
function makePool(big = 40): PoolDocument {
  const doc = {
    schemaVersion: 1,
    rev: 3,
    updatedAt: "2026-01-01T00:00:00.000Z",
    providers: {
      small: { strategy: "round_robin", cursor: 1, credentials: [0, 1, 2].map((i) => credential("small", i)) },
      bulk: { credentials: Array.from({ length: big }, (_, i) => credential("bulk", i)) },
    },
  };
  return trustPoolDocument(poolDocumentSchema.parse(doc));
}

function runEdit(op: Edit, draft: PoolDocument): MutatorOutcome<PoolDocument> {
  try {
    return { ok: true, doc: op(draft) ?? draft };
  } catch (error) {
    return { ok: false, error };
  }
}

function applyAll(base: PoolDocument, edits: Edit[]) {
  return applyMutators(base, edits, runEdit);
}

const bulk = (doc: PoolDocument) => doc.providers.bulk!.credentials;

describe("drafts", () => {
  it("rolls back a mutator that changed nested and lazily drafted state before throwing", () => {
    const base = makePool();
    const before = serializeDocument(base);
    const failure = new Error("bug");
    const result = applyAll(base, [
      (doc) => {
        bulk(doc)[0]!.usage.requests += 1;
      },
      (doc) => {
        bulk(doc)[35]!.secrets.apiKey = "sk-leaked";
        bulk(doc).push(credential("bulk", 99));
        doc.providers.small!.cursor = 7;
        delete doc.providers.small;
        throw failure;
      },
      (doc) => {
        bulk(doc)[35]!.usage.requests += 1;
      },
    ]);
    expect(result.failed.map(([, error]) => error)).toEqual([failure]);
    expect(result.applied).toHaveLength(2);
    const doc = result.doc;
    expect(bulk(doc)[0]!.usage.requests).toBe(1);
    expect(bulk(doc)[35]!.usage.requests).toBe(36);
    expect(bulk(doc)[35]!.secrets.apiKey).toBe("sk-bulk-35");
    expect(bulk(doc)).toHaveLength(40);
    expect(doc.providers.small!.cursor).toBe(1);
    // The base is untouched, and every part the mutators left alone is shared with it.
    expect(serializeDocument(base)).toBe(before);
    expect(doc.providers.small).toBe(base.providers.small);
    expect(bulk(doc)[1]).toBe(bulk(base)[1]);
    expect(bulk(doc)[35]!.secrets).toBe(bulk(base)[35]!.secrets);
    expect(isSealed(doc)).toBe(true);
  });

  it("takes a document a mutator returns instead of its draft", () => {
    const base = makePool();
    const { doc, applied } = applyAll(base, [
      (draft) => ({ ...draft, providers: { only: { credentials: [bulk(draft)[33]!] } } }),
    ]);
    expect(applied).toHaveLength(1);
    expect(Object.keys(doc.providers)).toEqual(["only"]);
    // Read through the draft and kept unchanged: the original, not a copy.
    expect(doc.providers.only!.credentials[0]).toBe(bulk(base)[33]);
  });

  it("changes one deep field of one credential, sharing everything else", () => {
    const base = makePool(200);
    const { doc } = applyAll(base, [
      (draft) => {
        bulk(draft)[150]!.status.reason = "manual";
      },
    ]);
    expect(bulk(doc)[150]!.status).toEqual({ state: "ok", reason: "manual" });
    expect(bulk(doc)[150]!.usage).toBe(bulk(base)[150]!.usage);
    expect(bulk(doc).filter((item, i) => item !== bulk(base)[i])).toHaveLength(1);
    expect(doc.providers.small).toBe(base.providers.small);
    // A mutator that reads everything and changes nothing returns the base itself.
    const read = applyAll(doc, [(draft) => void JSON.stringify(draft)]);
    expect(read.doc).toBe(doc);
  });

  // What draft.ts keeps on sealed values and draft copies (symbol properties, not WeakMaps) must not show.
  it("keeps its marks out of sight: keys, JSON, spreads and clones of documents and drafts hold only the data", () => {
    const base = makePool(40);
    let seen: { keys: string[]; json: string; spread: unknown; clone: unknown } | undefined;
    const { doc } = applyAll(base, [
      (draft) => {
        const first = bulk(draft)[0]!;
        first.label = "renamed";
        seen = {
          keys: Object.keys(first),
          json: JSON.stringify(first),
          spread: { ...first },
          clone: structuredClone(first),
        };
      },
    ]);
    const plain = JSON.parse(JSON.stringify(doc)) as PoolDocument;
    expect(isSealed(doc)).toBe(true);
    for (const value of [doc, doc.providers, bulk(doc), bulk(doc)[0]!, bulk(doc)[1]!]) {
      expect(
        Reflect.ownKeys(value).filter(
          (key) => typeof key === "symbol" && Object.getOwnPropertyDescriptor(value, key)!.enumerable,
        ),
      ).toEqual([]);
    }
    expect({ ...bulk(doc)[0]! }).toEqual(bulk(plain)[0]);
    expect(structuredClone(doc)).toEqual(plain);
    expect(Object.keys(doc)).toEqual(Object.keys(plain));
    expect(seen!.keys).toEqual(Object.keys(bulk(plain)[0]!));
    expect(seen!.json).toBe(JSON.stringify(bulk(plain)[0]));
    expect(seen!.spread).toEqual(bulk(plain)[0]);
    expect(seen!.clone).toEqual(bulk(plain)[0]);
  });

  it("gives later mutators of a batch the plain list once one has read it all, and still shares what is unchanged", () => {
    const base = makePool(50);
    const edits: Edit[] = [
      (doc) => void (bulk(doc).find((item) => item.id === "bulk-45")!.usage.requests = 1),
      (doc) => void bulk(doc).push(credential("bulk", 77)),
      (doc) => void (bulk(doc)[3]!.label = "third"),
      (doc) => void bulk(doc).sort((a, b) => b.usage.requests - a.usage.requests),
    ];
    const { doc, applied } = applyAll(base, edits);
    expect(applied).toHaveLength(4);
    const copy = structuredClone(base);
    for (const edit of edits) edit(copy);
    expect(serializeDocument(doc)).toBe(serializeDocument(copy));
    const read = applyAll(base, [(draft) => void bulk(draft).map((item) => item.id), (draft) => void bulk(draft)[0]]);
    expect(read.doc).toBe(base);
    expect(bulk(doc).find((item) => item.id === "bulk-10")).toBe(bulk(base)[10]);
  });

  it("leaves what a mutator kept its own: changing it later reaches no committed document", () => {
    const base = makePool();
    let kept: Credential | undefined;
    const { doc } = applyAll(base, [
      (draft) => {
        kept = bulk(draft)[34]!;
        kept.priority = 9;
      },
    ]);
    expect(kept!.priority).toBe(9);
    kept!.priority = 5;
    kept!.usage.requests = 1000;
    expect(bulk(doc)[34]!.priority).toBe(9);
    expect(bulk(doc)[34]!.usage.requests).toBe(34);
    expect(() => {
      (bulk(doc)[34] as { priority: number }).priority = 1;
    }).toThrow(TypeError);
  });

  it("validates like the schema and serializes like serializeDocument after random edits", () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const edits: Array<(doc: PoolDocument) => void> = [
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.usage.requests += 1),
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.label = `label "${random(100)}"\n`),
      (doc) => void bulk(doc).splice(random(bulk(doc).length), 1),
      (doc) => void bulk(doc).push({ ...credential("bulk", 1000 + random(1000)), priority: undefined as never }),
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.extra = { nested: [1, null, "x"], empty: {} }),
      (doc) => void delete bulk(doc)[random(bulk(doc).length)]!.secrets.apiKey,
      (doc) => void (doc.providers[`p${random(5)}`] = { credentials: [] }),
      (doc) => void (doc.providers.small!.strategy = "least_used"),
      (doc) => void (doc.settings = { secrets: { release: "never" } }),
      (doc) => void bulk(doc).reverse(),
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.usage.requests = -1),
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.kind = "nope" as never),
      (doc) => void ((doc.providers.small as { cursor: unknown }).cursor = "x"),
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.when = new Date(random(1e12))),
      (doc) => void delete doc.providers[`p${random(5)}`],
      (doc) => void (bulk(doc).length = Math.max(1, bulk(doc).length - random(3))),
      // A hole, as `delete list[i]` leaves it: the draft must see it as a change.
      (doc) => void Reflect.deleteProperty(bulk(doc), String(random(bulk(doc).length))),
    ];
    let doc = makePool(60);
    let invalid = 0;
    for (let step = 0; step < 300; step++) {
      const edit = edits[random(edits.length)]!;
      // The same edit on a plain copy, as every commit made it before: same random draws, same result.
      const drawn = seed;
      const { doc: next, applied } = applyAll(doc, [edit]);
      expect(applied).toHaveLength(1);
      seed = drawn;
      const copy = structuredClone(doc);
      edit(copy);
      expect(serializeDocument(next)).toBe(serializeDocument(copy));
      // What a full parse of the same document gives, as every commit did before.
      const expected = poolDocumentSchema.safeParse(next);
      const actual = validatePoolDocument(next);
      expect(actual.success).toBe(expected.success);
      if (!actual.success || !expected.success) {
        expect(actual.success ? "" : actual.error.message).toBe(expected.success ? "" : expected.error.message);
        invalid++;
        continue;
      }
      expect(serializeWithReuse(actual.data)).toBe(serializeDocument(expected.data));
      expect(serializeWithReuse(actual.data)).toBe(serializeDocument(actual.data));
      // A commit skips its text comparison on this answer (file-backend.ts): it must match the bytes.
      expect(differs(actual.data, doc)).toBe(serializeDocument(actual.data) !== serializeDocument(doc));
      doc = actual.data;
    }
    expect(invalid).toBeGreaterThan(10);
    expect(bulk(doc).length).toBeGreaterThan(0);
  });

  it("serializes exactly as JSON.stringify with a 2-space indent, whatever the nesting", () => {
    const values: unknown[] = [
      {},
      [],
      { a: [] as unknown[], b: {}, c: [{}, [], [[]]], d: undefined, e: () => 1, f: null },
      [undefined, () => 1, Symbol("s"), 1.5, -0, Number.NaN, 'é\u2028"\\'],
      { __proto__: null, x: 1 },
      JSON.parse('{"__proto__": {"y": [1, {"z": 2}]}}') as unknown,
      { date: new Date(0), nested: { list: Array.from({ length: 40 }, (_, i) => ({ i })) } },
    ];
    for (const value of values) {
      expect(serializeWithReuse(value)).toBe(JSON.stringify(value, null, 2));
      const frozen = seal(structuredCloneSafe(value));
      expect(serializeWithReuse(frozen)).toBe(JSON.stringify(frozen, null, 2));
      // Again, from the reused text, at another depth.
      expect(serializeWithReuse({ wrap: [frozen] })).toBe(JSON.stringify({ wrap: [frozen] }, null, 2));
      expect(serializeWithReuse(frozen)).toBe(JSON.stringify(frozen, null, 2));
    }
  });
});

describe("commit text as pieces and bytes", () => {
  /** `text` cut at random places, empty pieces included. */
  function cut(text: string, random: (n: number) => number): string[] {
    const pieces: string[] = [];
    let at = 0;
    while (at < text.length) {
      const next = Math.min(text.length, at + random(12));
      pieces.push(text.slice(at, next));
      at = next;
    }
    return pieces;
  }

  it("compares pieces with a text given whole or cut elsewhere, without joining either", () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const text = serializeDocument(makePool(5));
    for (let round = 0; round < 200; round++) {
      const pieces = cut(text, random);
      expect(piecesEqual(pieces, text)).toBe(true);
      expect(piecesEqual(pieces, cut(text, random))).toBe(true);
      const at = random(text.length);
      const changed = text.slice(0, at) + (text[at] === "x" ? "y" : "x") + text.slice(at + 1);
      expect(piecesEqual(pieces, changed)).toBe(false);
      expect(piecesEqual(pieces, cut(changed, random))).toBe(false);
      expect(piecesEqual(pieces, cut(text.slice(0, at), random))).toBe(false);
      expect(piecesEqual(cut(text.slice(0, at), random), pieces)).toBe(false);
    }
    const list = serializePieces(makePool(40));
    expect(piecesEqual(serializePieces(makePool(40)), list)).toBe(true);
    expect(piecesEqual([], [])).toBe(true);
    expect(piecesEqual([], "")).toBe(true);
    expect(piecesEqual(["", ""], ["a"])).toBe(false);
  });

  it("serializes long lists (written in runs of entries) like serializeDocument after random edits", () => {
    let seed = 99;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const edits: Array<(doc: PoolDocument) => void> = [
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.usage.requests += 1),
      (doc) => void (bulk(doc)[random(bulk(doc).length)]!.label = `é "${random(100)}"\n`),
      (doc) => void bulk(doc).splice(random(bulk(doc).length), 1),
      (doc) => void bulk(doc).splice(random(bulk(doc).length), 0, credential("bulk", 5000 + random(1000))),
      (doc) => void bulk(doc).push(credential("bulk", 7000 + random(1000))),
      (doc) => void bulk(doc).unshift(credential("bulk", 9000 + random(1000))),
      (doc) => void bulk(doc).reverse(),
      (doc) => {
        const list = bulk(doc);
        const [i, j] = [random(list.length), random(list.length)];
        [list[i], list[j]] = [list[j]!, list[i]!];
      },
      (doc) => void (bulk(doc).length = Math.max(1, bulk(doc).length - random(300))),
      (doc) => void (doc.providers.other = { credentials: bulk(doc).slice(random(50)) }),
      (doc) => void delete doc.providers.other,
      (doc) => void (doc.providers.small!.credentials = bulk(doc).slice(0, 300 + random(300))),
    ];
    let doc = makePool(700);
    const encoder = createPieceEncoder();
    for (let step = 0; step < 150; step++) {
      const { doc: next, applied } = applyAll(doc, [edits[random(edits.length)]!]);
      expect(applied).toHaveLength(1);
      const checked = validatePoolDocument(next);
      if (!checked.success) throw checked.error;
      doc = checked.data;
      const expected = serializeDocument(doc);
      expect(serializeWithReuse(doc)).toBe(expected);
      // Again at another depth, from the same runs.
      expect(serializeWithReuse({ wrap: [doc] })).toBe(JSON.stringify({ wrap: [doc] }, null, 2));
      expect(Buffer.from(encoder.encode(serializePieces(doc))).equals(Buffer.from(expected))).toBe(true);
      if (bulk(doc).length < 300) doc = makePool(700);
    }
    // Runs keyed by an entry that starts a run elsewhere too: in a list with holes (and values written as null),
    // at the start of a list and further in, at another depth.
    const entry = seal({ a: 1 });
    const holes = seal(Object.assign(new Array<unknown>(600), { 0: entry, 300: () => 1, 599: 2 }));
    const other = seal(Array.from({ length: 600 }, (_, i) => (i === 0 ? entry : i)));
    const shifted = seal([...Array.from({ length: 256 }, (_, i) => ({ i })), ...other]);
    for (const value of [holes, other, holes, shifted, other, { x: [other] }, other])
      expect(serializeWithReuse(value)).toBe(JSON.stringify(value, null, 2));
  });

  it("keeps the runs of the lists it still holds, not of every entry that once started a run", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const settle = async (): Promise<number> => {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
      return process.memoryUsage().heapUsed;
    };
    const entry = (i: number) => seal({ id: `c-${i}`, key: "x".repeat(600) });
    let list = seal(Array.from({ length: 2000 }, (_, i) => entry(i)));
    serializeWithReuse({ list });
    const before = await settle();
    // Each version shifts the list by one: every run starts at an entry that started none before, and the entries
    // that did live on. Kept by their first entries, these runs would add up to ~250 MB.
    let grown = 0;
    for (let k = 0; k < 200; k++) {
      list = seal([entry(10_000 + k), ...list.slice(0, -1)]);
      expect(serializeWithReuse({ list }).length).toBeGreaterThan(1_000_000);
      // Measured while the commits go on, as a server would: between turns of the event loop.
      if (k % 50 === 49) grown = Math.max(grown, (await settle()) - before);
    }
    expect(grown).toBeLessThan(64 * 2 ** 20);
  });

  it("encodes exactly the bytes of serializeDocument, in memory it reuses while the text fits", () => {
    const encoder = createPieceEncoder();
    const docs: unknown[] = [
      makePool(3),
      makePool(400),
      // Multi-byte UTF-8, surrogate pairs and escapes: more bytes than UTF-16 units, so the first try cannot fit.
      { ...makePool(400), note: 'é€😀\u2028"\\'.repeat(20_000) },
      { ...makePool(3), note: "\ud800 lone surrogates \udfff" },
      makePool(3),
      makePool(1),
    ];
    let previous: Uint8Array | null = null;
    for (const doc of docs) {
      const bytes = encoder.encode(serializePieces(doc));
      expect(Buffer.from(bytes).equals(Buffer.from(serializeDocument(doc), "utf8"))).toBe(true);
      expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
      if (previous !== null && bytes.length <= previous.length) expect(bytes.buffer).toBe(previous.buffer);
      previous = bytes;
    }
  });
});

function structuredCloneSafe(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

describe("file backend commits on drafts", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await createTempDir("draft-unit");
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("rejects an invalid change to one credential, naming the field, while its batch-mates land", async () => {
    const path = join(dir.path, "pool.json");
    const backend = createFileBackend({ path });
    try {
      await backend.update((doc) => {
        doc.providers.bulk = { credentials: Array.from({ length: 40 }, (_, i) => credential("bulk", i)) };
      });
      const results = await Promise.allSettled([
        backend.update((doc) => void (bulk(doc)[1]!.usage.requests += 1)),
        backend.update((doc) => void (bulk(doc)[37]!.usage.failures = -3)),
        backend.update((doc) => void (bulk(doc)[38]!.usage.requests += 1)),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      const reason = (results[1] as PromiseRejectedResult).reason as Error & { code?: string };
      expect(reason.code).toBe("E_POOL_INVALID");
      expect(reason.message).toContain("providers.bulk.credentials[37].usage.failures");
      const reader = createFileBackend({ path });
      const { doc } = await reader.read();
      await reader.close();
      expect(bulk(doc)[1]!.usage.requests).toBe(2);
      expect(bulk(doc)[37]!.usage.failures).toBe(0);
      expect(bulk(doc)[38]!.usage.requests).toBe(39);
    } finally {
      await backend.close();
    }
  });

  it("hands out committed documents nobody can change, and read() ones that are the caller's own", async () => {
    const path = join(dir.path, "pool.json");
    const backend = createFileBackend({ path });
    try {
      const committed = await backend.update((doc) => {
        doc.providers.bulk = { credentials: Array.from({ length: 40 }, (_, i) => credential("bulk", i)) };
      });
      expect(() => {
        bulk(committed)[0]!.usage.requests = 77;
      }).toThrow(TypeError);
      // read() gives a document of the caller's own, as it always did: changing it reaches nothing committed.
      const { doc: read } = await backend.read();
      bulk(read)[0]!.usage.requests = 500;
      bulk(read).length = 0;
      const next = await backend.update((doc) => void (bulk(doc)[0]!.usage.requests += 1));
      expect(bulk(next)[0]!.usage.requests).toBe(1);
      expect(bulk(next)).toHaveLength(40);
      expect(bulk(committed)[0]!.usage.requests).toBe(0);
    } finally {
      await backend.close();
    }
  });
});
