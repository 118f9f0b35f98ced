// Client bearer tokens: shown once, stored only as SHA-256 hashes in a 0600 file, compared in constant time. A token
// may carry limits, an expiry and a parent (tokens minted for delegate agents); a token is valid only while every
// token up its chain exists and has not expired, checked on each verification (see test/proxy/delegation.test.ts).
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  PoolError,
  createDocumentFileBackend,
  openSnapshot,
  type DocumentBackend,
  type DocumentStore,
  type Snapshot,
} from "@credpool/pool-core";
import { z } from "zod";
import { narrowLimits, tokenLimitsSchema, type TokenLimits } from "./token-limits.js";

// The CLI loads this module alone (the `./tokens` entry): what it needs of the limits comes with it.
export { describeLimits, type TokenLimits } from "./token-limits.js";

export const TOKEN_FILE_NAME = "gateway-tokens.json";

const TOKEN_ID = /^[a-z0-9]{8,32}$/;
/** read: the status page and /v1/events only (pool state, no secrets, no leases). */
export const TOKEN_SCOPES = ["lease", "admin", "proxy", "delegate", "read"] as const;

const tokenRecordSchema = z.looseObject({
  id: z.string().regex(TOKEN_ID),
  name: z.string().min(1).max(64),
  scope: z.enum(TOKEN_SCOPES),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.number().int(),
  // All optional, so token files written before limits and delegation load unchanged.
  limits: tokenLimitsSchema.optional(),
  parentId: z.string().regex(TOKEN_ID).optional(),
  expiresAt: z.number().int().optional(),
});

const tokenDocumentSchema = z.looseObject({
  schemaVersion: z.literal(1),
  rev: z.number().int().nonnegative(),
  updatedAt: z.string(),
  tokens: z.array(tokenRecordSchema).default([]),
});

type TokenDocument = z.infer<typeof tokenDocumentSchema>;
type TokenRecord = TokenDocument["tokens"][number];
/**
 * lease: the lease API; proxy: the provider routes (/anthropic, /openai, ...); delegate: the provider routes, and
 * minting child tokens (POST /v1/tokens); admin: everything, delegate included.
 */
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface ClientToken {
  readonly id: string;
  readonly name: string;
  readonly scope: TokenScope;
  readonly limits?: TokenLimits;
  readonly parentId?: string;
  /** Epoch ms after which this token is refused. */
  readonly expiresAt?: number;
  /** Parent first, then its parent, ...: their limits bound this token's requests too (the family shares them). */
  readonly ancestors?: readonly ClientToken[];
}

/** A token as `list` shows it. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly scope: TokenScope;
  readonly createdAt: number;
  readonly limits?: TokenLimits;
  readonly parentId?: string;
  readonly parentName?: string;
  readonly expiresAt?: number;
  /** expired: it or a token up its chain is past its expiry; orphaned: a token up its chain was revoked. */
  readonly state: "active" | "expired" | "orphaned";
}

export interface CreateTokenOptions {
  /** The parent's id or name: the new token's limits and lifetime are bounded by it, and end with it. */
  parent?: string;
  limits?: TokenLimits;
  /** Lifetime; a child's defaults to an hour, or what is left of its parent's if that is less. */
  ttlMs?: number;
}

/** The default lifetime of a child token. */
export const DEFAULT_CHILD_TTL_MS = 60 * 60_000;
/** Tokens up a chain at most; deeper delegation is refused (and a hand-edited cycle ends here). */
export const MAX_TOKEN_DEPTH = 8;

export interface TokenStore {
  readonly path: string;
  create(
    name: string,
    scope: TokenScope,
    options?: CreateTokenOptions,
  ): Promise<{ token: string; client: ClientToken }>;
  list(): Promise<TokenInfo[]>;
  /** Removes the token and every token minted under it; `descendants` names those. */
  revoke(idOrName: string): Promise<ClientToken & { readonly descendants: readonly string[] }>;
  /** Checks a presented bearer token against the in-memory copy; no disk I/O. */
  verify(presented: string): ClientToken | undefined;
  /**
   * `verify`, and on a miss for a well-formed token, one re-read of the file (shared by concurrent misses, at most
   * every 100 ms): a token created a moment ago works at once, before the watcher has caught up.
   */
  verifyFresh(presented: string): Promise<ClientToken | undefined>;
  /** Starts following the file so revocations and new tokens apply without a restart. */
  open(): Promise<void>;
  close(): Promise<void>;
}

function hashToken(token: string): Buffer {
  // One-shot hash: no Hash object per request on the hot path.
  return hash("sha256", token, "buffer");
}

// `cpg_<id>_<secret>`: the id finds the record without scanning; the secret never leaves the client.
const TOKEN_FORMAT = /^cpg_([a-z0-9]{8,32})_([A-Za-z0-9_-]{20,100})$/;

// A stand-in for a missing record, so an unknown id still costs one hash and one constant-time comparison.
const NO_SUCH_TOKEN_HASH = hashToken("credpool-no-such-token");

interface IndexedToken {
  readonly client: ClientToken;
  readonly hash: Buffer;
  /** The earliest expiry up the chain; -Infinity when a token up the chain is gone. */
  readonly validUntil: number;
  /**
   * The token last presented and verified for this record. Later requests compare against it in constant time
   * instead of hashing again; the hash costs more than the rest of authentication. Only memory holds it (the
   * file keeps hashes, so a copied file reveals no token), and a change to the file starts a fresh index.
   */
  verified?: Buffer;
}

// Built once per version of the token file, so a request costs a map lookup and one constant-time comparison.
const indexes = new WeakMap<readonly TokenRecord[], Map<string, IndexedToken>>();

function baseClient(record: TokenRecord): ClientToken {
  return {
    id: record.id,
    name: record.name,
    scope: record.scope,
    ...(record.limits ? { limits: record.limits } : {}),
    ...(record.parentId ? { parentId: record.parentId } : {}),
    ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
  };
}

/** The record's ancestors (parent first) and the earliest expiry up the chain; broken when a parent is missing. */
function chainOf(
  records: ReadonlyMap<string, TokenRecord>,
  record: TokenRecord,
): { ancestors: TokenRecord[]; validUntil: number; broken: boolean } {
  const ancestors: TokenRecord[] = [];
  let validUntil = record.expiresAt ?? Number.POSITIVE_INFINITY;
  let current = record;
  while (current.parentId !== undefined) {
    const parent = records.get(current.parentId);
    if (!parent || ancestors.length >= MAX_TOKEN_DEPTH)
      return { ancestors, validUntil: Number.NEGATIVE_INFINITY, broken: true };
    ancestors.push(parent);
    validUntil = Math.min(validUntil, parent.expiresAt ?? Number.POSITIVE_INFINITY);
    current = parent;
  }
  return { ancestors, validUntil, broken: false };
}

function indexOf(records: readonly TokenRecord[]): Map<string, IndexedToken> {
  let index = indexes.get(records);
  if (!index) {
    const byId = new Map(records.map((record) => [record.id, record]));
    const bases = new Map(records.map((record) => [record.id, Object.freeze(baseClient(record))]));
    index = new Map(
      records.map((record) => {
        const chain = chainOf(byId, record);
        const base = bases.get(record.id)!;
        const client =
          chain.ancestors.length === 0
            ? base
            : Object.freeze({ ...base, ancestors: Object.freeze(chain.ancestors.map((one) => bases.get(one.id)!)) });
        return [record.id, { client, hash: Buffer.from(record.hash, "hex"), validUntil: chain.validUntil }];
      }),
    );
    indexes.set(records, index);
  }
  return index;
}

export function verifyAgainst(
  records: readonly TokenRecord[],
  presented: string,
  now: number = Date.now(),
): ClientToken | undefined {
  const match = TOKEN_FORMAT.exec(presented);
  const id = match?.[1];
  const entry = id === undefined ? undefined : indexOf(records).get(id);
  // An expired token, or one whose parent is gone or expired, is refused like an unknown one.
  const live = entry !== undefined && entry.validUntil > now;
  if (entry?.verified) {
    const bytes = Buffer.from(presented);
    // Same length is public (the format fixes it); a different one falls through to the hash.
    if (bytes.length === entry.verified.length)
      return timingSafeEqual(bytes, entry.verified) && live ? entry.client : undefined;
  }
  const equal = timingSafeEqual(hashToken(presented), entry?.hash ?? NO_SUCH_TOKEN_HASH);
  if (!entry || !equal) return undefined;
  entry.verified = Buffer.from(presented);
  return live ? entry.client : undefined;
}

function chainState(byId: ReadonlyMap<string, TokenRecord>, record: TokenRecord, now: number): TokenInfo["state"] {
  const chain = chainOf(byId, record);
  if (chain.broken) return "orphaned";
  return chain.validUntil > now ? "active" : "expired";
}

/** The record and its own limits for a new child, or why `parent` cannot have one. */
function childTerms(
  records: readonly TokenRecord[],
  parentRef: string,
  scope: TokenScope,
  options: CreateTokenOptions,
  now: number,
): { parentId: string; limits: TokenLimits; expiresAt: number } {
  const byId = new Map(records.map((record) => [record.id, record]));
  const parent = records.find((candidate) => candidate.id === parentRef || candidate.name === parentRef);
  if (!parent)
    throw new PoolError("E_NOT_FOUND", `No parent gateway token "${parentRef}". Run \`credpool gateway token list\`.`);
  const chain = chainOf(byId, parent);
  if (chain.broken || chain.validUntil <= now)
    throw new PoolError("E_FORBIDDEN", `parent: token "${parent.name}" has expired or lost its own parent.`, {
      details: { field: "parent" },
    });
  if (parent.scope !== "delegate" && parent.scope !== "admin") {
    throw new PoolError(
      "E_FORBIDDEN",
      `parent: token "${parent.name}" has scope ${parent.scope}; only a delegate or admin token can have child tokens.`,
      { details: { field: "parent" } },
    );
  }
  if (scope !== "proxy" && scope !== "delegate") {
    throw new PoolError("E_FORBIDDEN", `scope: a child token gets scope proxy or delegate, not ${scope}.`, {
      details: { field: "scope" },
    });
  }
  if (chain.ancestors.length + 1 >= MAX_TOKEN_DEPTH)
    throw new PoolError("E_FORBIDDEN", `parent: delegation is at most ${MAX_TOKEN_DEPTH} tokens deep.`, {
      details: { field: "parent" },
    });
  const limits = narrowLimits(parent.limits, options.limits ?? {});
  const parentLeft = chain.validUntil - now;
  if (options.ttlMs !== undefined && options.ttlMs > parentLeft) {
    throw new PoolError(
      "E_FORBIDDEN",
      `ttl: ${Math.ceil(options.ttlMs / 1000)} s outlives the parent "${parent.name}", which expires in ${Math.floor(parentLeft / 1000)} s.`,
      { details: { field: "ttl" } },
    );
  }
  const ttlMs = options.ttlMs ?? Math.min(DEFAULT_CHILD_TTL_MS, parentLeft);
  return { parentId: parent.id, limits, expiresAt: now + ttlMs };
}

const tokenDocumentSpec = {
  schema: tokenDocumentSchema,
  empty: (): TokenDocument => ({ schemaVersion: 1, rev: 0, updatedAt: new Date(0).toISOString(), tokens: [] }),
  noun: "gateway token file",
};

export interface TokenStoreOptions {
  /** The directory holding gateway-tokens.json (the pool's directory). */
  readonly dir: string;
  /** A shared store (PostgreSQL): the tokens are its `gateway-tokens` document, valid on every host that uses it. */
  readonly documents?: DocumentStore | undefined;
}

export function createTokenStore(options: TokenStoreOptions): TokenStore {
  const documents = options.documents;
  const path = documents ? `${documents.location} document gateway-tokens` : join(options.dir, TOKEN_FILE_NAME);
  const backend: DocumentBackend<TokenDocument> = documents
    ? documents.open("gateway-tokens", tokenDocumentSpec)
    : createDocumentFileBackend(tokenDocumentSpec, { path });
  let snapshot: Snapshot<TokenDocument> | undefined;
  // A document read on a verify miss, used while it is newer than what the watcher has delivered. Misses share one
  // check in flight, and the file is read again only when its stat changed, so a flood of bad tokens costs a stat.
  let reread: TokenDocument | undefined;
  let rereading: Promise<void> | undefined;
  let lastStamp = "";

  async function recheckFile(): Promise<void> {
    try {
      if (documents) {
        // No file to stat: one primary-key read, shared by every miss while it is in flight.
        reread = (await backend.read()).doc;
        return;
      }
      const info = await stat(path);
      const stamp = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (stamp === lastStamp) return;
      lastStamp = stamp;
      reread = (await backend.read()).doc;
    } catch {
      // Unreadable now: answer from memory; the watcher reports the file's state.
    } finally {
      rereading = undefined;
    }
  }

  function current(): TokenDocument {
    if (!snapshot) throw new PoolError("E_USAGE", "TokenStore.open() was not called.");
    return reread !== undefined && reread.rev > snapshot.doc.rev ? reread : snapshot.doc;
  }

  return {
    path,
    async create(name, scope, options = {}) {
      const id = randomBytes(6).toString("hex");
      const token = `cpg_${id}_${randomBytes(24).toString("base64url")}`;
      let record: TokenRecord | undefined;
      await backend.update((doc) => {
        const now = Date.now();
        // Expired and orphaned tokens can never be used again: drop them, which also frees their names.
        const byId = new Map(doc.tokens.map((one) => [one.id, one]));
        doc.tokens = doc.tokens.filter((one) => chainState(byId, one, now) === "active");
        if (doc.tokens.some((one) => one.name === name)) {
          throw new PoolError(
            "E_CONFLICT",
            `A gateway token named "${name}" exists; revoke it or pick another --name.`,
          );
        }
        const terms =
          options.parent === undefined
            ? {
                ...(options.limits && Object.keys(options.limits).length > 0 ? { limits: options.limits } : {}),
                ...(options.ttlMs !== undefined ? { expiresAt: now + options.ttlMs } : {}),
              }
            : childTerms(doc.tokens, options.parent, scope, options, now);
        record = { id, name, scope, hash: hashToken(token).toString("hex"), createdAt: now, ...terms };
        doc.tokens.push(record);
      });
      if (!record) throw new PoolError("E_POOL_IO", "The gateway token was not written.");
      return { token, client: Object.freeze(baseClient(record)) };
    },
    async list() {
      const { doc } = await backend.read();
      const now = Date.now();
      const byId = new Map(doc.tokens.map((record) => [record.id, record]));
      return doc.tokens.map((record) => {
        const parentName = record.parentId === undefined ? undefined : byId.get(record.parentId)?.name;
        return {
          ...baseClient(record),
          createdAt: record.createdAt,
          ...(parentName !== undefined ? { parentName } : {}),
          state: chainState(byId, record, now),
        };
      });
    },
    async revoke(idOrName) {
      let removed: (ClientToken & { descendants: string[] }) | undefined;
      await backend.update((doc) => {
        const record = doc.tokens.find((candidate) => candidate.id === idOrName || candidate.name === idOrName);
        if (!record)
          throw new PoolError("E_NOT_FOUND", `No gateway token "${idOrName}". Run \`credpool gateway token list\`.`);
        // Its children go too. Verification refuses them anyway (their chain is broken); this keeps the list honest.
        const gone = new Set([record.id]);
        for (let grew = true; grew;) {
          grew = false;
          for (const one of doc.tokens) {
            if (one.parentId !== undefined && gone.has(one.parentId) && !gone.has(one.id)) {
              gone.add(one.id);
              grew = true;
            }
          }
        }
        removed = {
          ...baseClient(record),
          descendants: doc.tokens.filter((one) => one !== record && gone.has(one.id)).map((one) => one.name),
        };
        doc.tokens = doc.tokens.filter((candidate) => !gone.has(candidate.id));
      });
      if (!removed) throw new PoolError("E_NOT_FOUND", `No gateway token "${idOrName}".`);
      return removed;
    },
    verify(presented) {
      return verifyAgainst(current().tokens, presented);
    },
    async verifyFresh(presented) {
      let found = verifyAgainst(current().tokens, presented);
      if (found || !TOKEN_FORMAT.test(presented)) return found;
      // A check already in flight may have looked before this token was written: let it finish, then look again.
      if (rereading !== undefined) {
        await rereading;
        found = verifyAgainst(current().tokens, presented);
        if (found) return found;
      }
      rereading ??= recheckFile();
      await rereading;
      return verifyAgainst(current().tokens, presented);
    },
    async open() {
      snapshot ??= await openSnapshot(backend);
    },
    async close() {
      snapshot?.close();
      await backend.close();
    },
  };
}

export function tokenStoreDirFor(poolPath: string): string {
  return dirname(poolPath);
}
