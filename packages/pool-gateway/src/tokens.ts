// Client bearer tokens: shown once, stored only as SHA-256 hashes in a 0600 file, compared in constant time.
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  PoolError,
  createDocumentFileBackend,
  openSnapshot,
  type FileBackend,
  type Snapshot,
} from "@credpool/pool-core";
import { z } from "zod";

export const TOKEN_FILE_NAME = "gateway-tokens.json";

const tokenRecordSchema = z.looseObject({
  id: z.string().regex(/^[a-z0-9]{8,32}$/),
  name: z.string().min(1).max(64),
  scope: z.enum(["lease", "admin", "proxy"]),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.number().int(),
});

const tokenDocumentSchema = z.looseObject({
  schemaVersion: z.literal(1),
  rev: z.number().int().nonnegative(),
  updatedAt: z.string(),
  tokens: z.array(tokenRecordSchema).default([]),
});

type TokenDocument = z.infer<typeof tokenDocumentSchema>;
type TokenRecord = TokenDocument["tokens"][number];
/** lease: the lease API; proxy: the provider routes (/anthropic, /openai, ...); admin: everything. */
export type TokenScope = "lease" | "admin" | "proxy";

export interface ClientToken {
  readonly id: string;
  readonly name: string;
  readonly scope: TokenScope;
}

export interface TokenStore {
  readonly path: string;
  create(name: string, scope: TokenScope): Promise<{ token: string; client: ClientToken }>;
  list(): Promise<ClientToken[]>;
  revoke(idOrName: string): Promise<ClientToken>;
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
  /**
   * The token last presented and verified for this record. Later requests compare against it in constant time
   * instead of hashing again; the hash costs more than the rest of authentication. Only memory holds it (the
   * file keeps hashes, so a copied file reveals no token), and a change to the file starts a fresh index.
   */
  verified?: Buffer;
}

// Built once per version of the token file, so a request costs a map lookup and one constant-time comparison.
const indexes = new WeakMap<readonly TokenRecord[], Map<string, IndexedToken>>();

function indexOf(records: readonly TokenRecord[]): Map<string, IndexedToken> {
  let index = indexes.get(records);
  if (!index) {
    index = new Map(
      records.map((record) => [
        record.id,
        {
          client: Object.freeze({ id: record.id, name: record.name, scope: record.scope }),
          hash: Buffer.from(record.hash, "hex"),
        },
      ]),
    );
    indexes.set(records, index);
  }
  return index;
}

export function verifyAgainst(records: readonly TokenRecord[], presented: string): ClientToken | undefined {
  const match = TOKEN_FORMAT.exec(presented);
  const id = match?.[1];
  const entry = id === undefined ? undefined : indexOf(records).get(id);
  if (entry?.verified) {
    const bytes = Buffer.from(presented);
    // Same length is public (the format fixes it); a different one falls through to the hash.
    if (bytes.length === entry.verified.length)
      return timingSafeEqual(bytes, entry.verified) ? entry.client : undefined;
  }
  const equal = timingSafeEqual(hashToken(presented), entry?.hash ?? NO_SUCH_TOKEN_HASH);
  if (!entry || !equal) return undefined;
  entry.verified = Buffer.from(presented);
  return entry.client;
}

export function createTokenStore(options: { dir: string }): TokenStore {
  const path = join(options.dir, TOKEN_FILE_NAME);
  const backend: FileBackend<TokenDocument> = createDocumentFileBackend(
    {
      schema: tokenDocumentSchema,
      empty: () => ({ schemaVersion: 1, rev: 0, updatedAt: new Date(0).toISOString(), tokens: [] }),
      noun: "gateway token file",
    },
    { path },
  );
  let snapshot: Snapshot<TokenDocument> | undefined;
  // A document read on a verify miss, used while it is newer than what the watcher has delivered. Misses share one
  // check in flight, and the file is read again only when its stat changed, so a flood of bad tokens costs a stat.
  let reread: TokenDocument | undefined;
  let rereading: Promise<void> | undefined;
  let lastStamp = "";

  async function recheckFile(): Promise<void> {
    try {
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
    async create(name, scope) {
      const id = randomBytes(6).toString("hex");
      const token = `cpg_${id}_${randomBytes(24).toString("base64url")}`;
      await backend.update((doc) => {
        if (doc.tokens.some((record) => record.name === name)) {
          throw new PoolError(
            "E_CONFLICT",
            `A gateway token named "${name}" exists; revoke it or pick another --name.`,
          );
        }
        doc.tokens.push({ id, name, scope, hash: hashToken(token).toString("hex"), createdAt: Date.now() });
      });
      return { token, client: { id, name, scope } };
    },
    async list() {
      const { doc } = await backend.read();
      return doc.tokens.map(({ id, name, scope }) => ({ id, name, scope }));
    },
    async revoke(idOrName) {
      let removed: ClientToken | undefined;
      await backend.update((doc) => {
        const record = doc.tokens.find((candidate) => candidate.id === idOrName || candidate.name === idOrName);
        if (!record)
          throw new PoolError("E_NOT_FOUND", `No gateway token "${idOrName}". Run \`credpool gateway token list\`.`);
        removed = { id: record.id, name: record.name, scope: record.scope };
        doc.tokens = doc.tokens.filter((candidate) => candidate !== record);
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
