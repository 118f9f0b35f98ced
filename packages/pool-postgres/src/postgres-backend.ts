// The PostgreSQL backend: one row per document, group commits under SELECT … FOR UPDATE with NOTIFY in the same
// transaction, LISTEN for watching (with a slow poll behind it), and lease rows with fencing numbers for lock().
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import pg from "pg";
import { z } from "zod";
import {
  PoolError,
  applyValidBatch,
  createEmptyPoolDocument,
  fromZodError,
  parseOptions,
  poolDocumentSchema,
  storeSslSchema,
  type DocumentBackend,
  type DocumentChange,
  type DocumentHeader,
  type DocumentStore,
  type LockOptions,
  type Mutator,
  type NamedLock,
  type PoolBackend,
  type PoolDocument,
  type ReadResult,
} from "@credpool/pool-core";
import { classify, describeServer, storeError } from "./errors.js";
import { SCHEMA_VERSION, ensureSchema, ident } from "./schema.js";
import { resolveDriverSsl } from "./tls.js";

const urlSchema = z
  .string()
  .min(1)
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === "postgres:" || url.protocol === "postgresql:";
    } catch {
      return false;
    }
  }, "must be a postgres:// or postgresql:// URL");

export const postgresBackendOptionsSchema = z.strictObject({
  /** postgres://user@host:port/db. A password here works but belongs in PGPASSWORD, ~/.pgpass or passwordFile. */
  url: urlSchema,
  /** The PostgreSQL schema holding credpool's tables; one per pool. */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,53}$/, "must be a lower-case identifier (a-z, 0-9, _) of at most 54 characters")
    .default("credpool"),
  /** Which document (row) this handle reads and writes: "pool", "auth-state", "gateway-tokens". */
  document: z
    .string()
    .regex(/^[\w.:@-]{1,128}$/, "use letters, digits and . : @ _ -")
    .default("pool"),
  /** A file whose first line is the password, read when a connection is made. */
  passwordFile: z.string().min(1).optional(),
  /** TLS: a libpq mode (`require`, `verify-full`, ...), a boolean, or { mode, ca/caFile, cert/certFile, key/keyFile }. */
  ssl: storeSslSchema.optional(),
  /** Connections this handle keeps for reads, commits and locks (the watcher has one more of its own). */
  maxConnections: z.number().int().min(1).max(100).default(4),
  connectTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
  /** Server-side cap on one statement; a commit waiting longer than this for a row lock fails with E_STORE_TIMEOUT. */
  statementTimeoutMs: z.number().int().min(10).max(3_600_000).default(15_000),
  /** A lock lease not renewed for this long is taken over by the next locker (a paused or cut-off holder). */
  lockTtlMs: z.number().int().min(200).max(600_000).default(10_000),
  lockTimeoutMs: z.number().int().positive().max(600_000).default(10_000),
  /** The fallback poll behind LISTEN, for notifications lost to a proxy or a reconnect race. */
  pollIntervalMs: z.number().int().min(10).max(3_600_000).default(5000),
  /** Attempts for a batch the server refused as a serialization failure or deadlock (it certainly did not commit). */
  conflictRetries: z.number().int().min(0).max(10).default(3),
});

export type PostgresBackendOptions = z.input<typeof postgresBackendOptionsSchema>;

/** Describes one kind of document; the same shape as core's DocumentSpec for the file backend. */
export interface PostgresDocumentSpec<D extends DocumentHeader> {
  readonly schema: z.ZodType<D>;
  readonly empty: () => D;
  readonly noun: string;
}

export type PostgresBackend<D extends DocumentHeader = PoolDocument> = DocumentBackend<D> & {
  /** The server, schema and document, without the password. */
  readonly server: string;
  readonly schema: string;
  readonly document: string;
  /** Creates or migrates the schema now (otherwise the first operation does); returns the schema version. */
  migrate(): Promise<number>;
};

interface PendingUpdate<D> {
  fn: Mutator<D>;
  resolve: (doc: D) => void;
  reject: (error: unknown) => void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Driver settings for `options`; the password is read lazily (URL, then passwordFile, else PGPASSWORD/~/.pgpass). */
export function connectionConfig(options: z.output<typeof postgresBackendOptionsSchema>): pg.ClientConfig {
  const url = new URL(options.url);
  const urlPassword = url.password === "" ? undefined : decodeURIComponent(url.password);
  const password = (): string => {
    if (urlPassword !== undefined) return urlPassword;
    try {
      return readFileSync(options.passwordFile as string, "utf8").split(/\r?\n/)[0] ?? "";
    } catch (error) {
      throw new PoolError(
        "E_STORE_UNAVAILABLE",
        `Could not read the PostgreSQL password file ${options.passwordFile}: ${(error as Error).message}`,
      );
    }
  };
  const config: pg.ClientConfig = {
    host: url.hostname,
    port: url.port === "" ? 5432 : Number(url.port),
    database: decodeURIComponent(url.pathname.replace(/^\//, "")) || undefined,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    // A paused process must not keep a row lock forever: the server ends a transaction left idle this long.
    idle_in_transaction_session_timeout: Math.max(options.lockTtlMs, 1000),
    application_name: "credpool",
  };
  if (url.username !== "") config.user = decodeURIComponent(url.username);
  // Read lazily, so a missing file is an error of the first operation, after validation. Without either, the
  // driver falls back to PGPASSWORD and ~/.pgpass.
  if (urlPassword !== undefined || options.passwordFile !== undefined) config.password = password;
  // store.ssl wins; without it the URL's sslmode, sslrootcert, sslcert and sslkey apply, as they would for psql.
  config.ssl = resolveDriverSsl(options.ssl, url);
  return config;
}

export function createPostgresBackend(options: PostgresBackendOptions): PostgresBackend<PoolDocument> {
  return createPostgresDocumentBackend(
    { schema: poolDocumentSchema, empty: createEmptyPoolDocument, noun: "pool" },
    options,
  );
}

/** The notification channel for a schema; payloads are `<rev>:<document>`. */
export function channelFor(schema: string): string {
  return `credpool_${schema}`;
}

export function createPostgresDocumentBackend<D extends DocumentHeader>(
  spec: PostgresDocumentSpec<D>,
  rawOptions: PostgresBackendOptions,
): PostgresBackend<D> {
  const options = parseOptions(postgresBackendOptionsSchema, rawOptions, "PostgreSQL backend options");
  const url = new URL(options.url);
  // Bad TLS settings (an unknown URL parameter, an unreadable CA file) fail here, before any connection.
  resolveDriverSsl(options.ssl, url);
  const server = describeServer(url);
  const location = `${server} schema ${options.schema} document ${options.document}`;
  const s = ident(options.schema);
  const channel = channelFor(options.schema);
  const docName = options.document;
  const urlPassword = url.password === "" ? undefined : decodeURIComponent(url.password);

  const clientConfig = (): pg.ClientConfig => connectionConfig(options);
  const secret = urlPassword;
  const fail = (error: unknown, action: string): PoolError => storeError(error, action, server, secret);

  const pool = new pg.Pool({ ...clientConfig(), max: options.maxConnections });
  // An idle connection that the server drops emits here; the next checkout gets a new one.
  pool.on("error", () => undefined);

  let migrated: Promise<number> | null = null;
  function migrate(): Promise<number> {
    migrated ??= (async () => {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw fail(error, "connect");
      }
      try {
        const version = await ensureSchema(client, options.schema);
        if (version > SCHEMA_VERSION) {
          throw new PoolError(
            "E_POOL_INVALID",
            `The schema ${options.schema} on ${server} is at version ${version}, newer than this credpool knows (${SCHEMA_VERSION}); upgrade credpool.`,
          );
        }
        return version;
      } catch (error) {
        throw fail(error, `create the schema ${options.schema}`);
      } finally {
        client.release();
      }
    })();
    // A failed attempt (server down) is retried by the next operation rather than cached.
    migrated.catch(() => {
      migrated = null;
    });
    return migrated;
  }

  function parseRow(row: { rev: string | number; doc: unknown } | undefined): ReadResult<D> {
    if (row === undefined) {
      const doc = spec.empty();
      return { doc, rev: doc.rev };
    }
    const rev = Number(row.rev);
    const checked = spec.schema.safeParse({ ...(row.doc as object), rev });
    if (!checked.success) {
      throw fromZodError("E_POOL_CORRUPT", `The ${spec.noun} stored at ${location} is invalid`, checked.error);
    }
    return { doc: checked.data, rev };
  }

  async function read(): Promise<ReadResult<D>> {
    await migrate();
    try {
      const result = await pool.query<{ rev: string; doc: unknown }>(
        `SELECT rev, doc FROM ${s}.documents WHERE name = $1`,
        [docName],
      );
      return parseRow(result.rows[0]);
    } catch (error) {
      throw fail(error, `read the ${spec.noun}`);
    }
  }

  // ---- update: group commit -------------------------------------------------------------------------------------

  let queue: PendingUpdate<D>[] = [];
  let flushing: Promise<void> | null = null;
  let closed = false;

  function applyBatch(
    base: D,
    batch: PendingUpdate<D>[],
  ): { doc: D; applied: PendingUpdate<D>[]; failed: Array<[PendingUpdate<D>, unknown]> } {
    let draft = base;
    const applied: PendingUpdate<D>[] = [];
    const failed: Array<[PendingUpdate<D>, unknown]> = [];
    for (const op of batch) {
      // Each caller works on its own copy so one failing mutator cannot leave half its changes behind.
      const copy = structuredClone(draft);
      try {
        const result = op.fn(copy);
        if (result !== undefined && typeof (result as { then?: unknown }).then === "function") {
          (result as unknown as PromiseLike<unknown>).then(undefined, () => undefined);
          throw new PoolError(
            "E_USAGE",
            "update() mutators must be synchronous; do async work outside the transaction.",
          );
        }
        draft = result ?? copy;
        applied.push(op);
      } catch (error) {
        failed.push([op, error]);
      }
    }
    return { doc: draft, applied, failed };
  }

  function validate(doc: D): { ok: true; doc: D } | { ok: false; error: PoolError } {
    const result = spec.schema.safeParse(doc);
    if (result.success) return { ok: true, doc: result.data };
    return {
      ok: false,
      error: fromZodError("E_POOL_INVALID", `The update would make ${location} invalid`, result.error),
    };
  }

  /** What one transaction decided; callers are settled only after COMMIT succeeded. */
  interface Outcome {
    settle: Array<() => void>;
    committed?: { previousRev: number; doc: D };
  }

  /** `take` hands over the queued callers once the row is locked, so callers arriving meanwhile share the commit. */
  async function transact(take: () => PendingUpdate<D>[]): Promise<Outcome> {
    const client = await pool.connect();
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const select = `SELECT rev, doc FROM ${s}.documents WHERE name = $1 FOR UPDATE`;
      let result = await client.query<{ rev: string; doc: unknown }>(select, [docName]);
      const missing = result.rows.length === 0;
      if (missing) {
        // The first commit creates the row; a concurrent creator makes this a no-op and we lock theirs.
        const empty = spec.empty();
        await client.query(
          `INSERT INTO ${s}.documents (name, rev, doc) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
          [docName, empty.rev, JSON.stringify(empty)],
        );
        result = await client.query<{ rev: string; doc: unknown }>(select, [docName]);
      }
      const current = parseRow(result.rows[0]);
      const outcome: Outcome = { settle: [] };
      const { doc: next, accepted, rejected } = applyValidBatch(current.doc, take(), applyBatch, validate);
      for (const [op, error] of rejected) outcome.settle.push(() => op.reject(error));
      // Like the file backend, the first commit stores rev 1 even when it changes nothing (`credpool init`).
      const unchanged = !missing && JSON.stringify(next) === JSON.stringify(current.doc);
      if (accepted.length === 0 || unchanged) {
        await client.query("ROLLBACK");
        for (const op of accepted) outcome.settle.push(() => op.resolve(current.doc));
        return outcome;
      }
      const committed = { ...next, rev: current.rev + 1, updatedAt: new Date().toISOString() } as D;
      await client.query(`UPDATE ${s}.documents SET rev = $2, doc = $3, updated_at = now() WHERE name = $1`, [
        docName,
        committed.rev,
        JSON.stringify(committed),
      ]);
      await client.query("SELECT pg_notify($1, $2)", [channel, `${committed.rev}:${docName}`]);
      await client.query("COMMIT");
      for (const op of accepted) outcome.settle.push(() => op.resolve(committed));
      outcome.committed = { previousRev: current.rev, doc: committed };
      return outcome;
    } catch (error) {
      broken = true;
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.off("error", onError);
      // A connection that failed mid-transaction is discarded, not reused.
      client.release(broken ? true : undefined);
    }
  }

  async function commitQueued(): Promise<void> {
    let batch: PendingUpdate<D>[] | null = null;
    const take = (): PendingUpdate<D>[] => {
      if (batch === null) {
        batch = queue;
        queue = [];
      }
      return batch;
    };
    try {
      await migrate();
    } catch (error) {
      for (const op of take()) op.reject(error);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const outcome = await transact(take);
        for (const settle of outcome.settle) settle();
        if (outcome.committed) emit(outcome.committed.previousRev, outcome.committed.doc);
        return;
      } catch (error) {
        // Only a refusal the server reports before commit is certainly not applied; anything else is not retried.
        if (classify(error).retryable && attempt < options.conflictRetries) {
          await sleep(5 + Math.random() * 20 * (attempt + 1));
          continue;
        }
        const reason = fail(error, `commit to the ${spec.noun}`);
        for (const op of take()) op.reject(reason);
        return;
      }
    }
  }

  async function flushLoop(): Promise<void> {
    // Let callers that arrive in the same tick share the first transaction.
    await Promise.resolve();
    while (queue.length > 0) await commitQueued();
    flushing = null;
  }

  function update(fn: Mutator<D>): Promise<D> {
    if (closed) {
      return Promise.reject(new PoolError("E_CLOSED", `The ${spec.noun} backend for ${location} is closed.`));
    }
    return new Promise<D>((resolve, reject) => {
      queue.push({ fn, resolve, reject });
      flushing ??= flushLoop();
    });
  }

  // ---- watch: LISTEN on a dedicated connection, re-read on reconnect, slow poll behind it -----------------------

  const listeners = new Set<(change: DocumentChange<D>) => void>();
  let lastSeenRev = -1;
  let listenClient: pg.Client | null = null;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let watching = false;
  let checking = false;
  let checkAgain = false;
  // Whether LISTEN succeeded on listenClient, so reads may share that connection.
  let listenReady = false;

  /** `fresh`: `doc` was just parsed and nobody else holds it, so the first listener may keep it without a copy. */
  function emit(previousRev: number, doc: D, fresh = false): void {
    if (listeners.size === 0 || doc.rev <= lastSeenRev) return;
    const change: DocumentChange<D> = { previousRev: lastSeenRev < 0 ? previousRev : lastSeenRev, rev: doc.rev, doc };
    lastSeenRev = doc.rev;
    let first = fresh;
    for (const listener of listeners) {
      const own = first;
      first = false;
      try {
        listener(own ? change : structuredClone(change));
      } catch {
        // A listener's bug must not stop the others from converging.
      }
    }
  }

  // The newest rev a notification announced; a read that already returned at least this rev needs no follow-up.
  let announcedRev = -1;

  /** One primary-key read, on the listener's own idle connection when it is up: the shared pool may be busy with commits. */
  async function readForWatch(): Promise<ReadResult<D>> {
    const client = listenClient;
    if (client === null || !listenReady) return read();
    try {
      const result = await client.query<{ rev: string; doc: unknown }>({
        name: `credpool_watch_read`,
        text: `SELECT rev, doc FROM ${s}.documents WHERE name = $1`,
        values: [docName],
      });
      return parseRow(result.rows[0]);
    } catch (error) {
      throw fail(error, `read the ${spec.noun}`);
    }
  }

  /**
   * Re-reads and reports, at once (no debounce). At most one read in flight; another follows only when a
   * notification announced a rev newer than the one that read returned, so a burst of NOTIFYs costs one or two reads.
   */
  async function check(): Promise<void> {
    if (checking) {
      checkAgain = true;
      return;
    }
    checking = true;
    try {
      do {
        checkAgain = false;
        try {
          const current = await readForWatch();
          if (watching) emit(lastSeenRev, current.doc, true);
          if (current.rev >= announcedRev) checkAgain = false;
        } catch {
          // The poll and the next notification try again.
        }
      } while (checkAgain && watching);
    } finally {
      checking = false;
    }
  }

  async function pollRev(): Promise<void> {
    try {
      const result = await pool.query<{ rev: string }>(`SELECT rev FROM ${s}.documents WHERE name = $1`, [docName]);
      const rev = result.rows[0] === undefined ? 0 : Number(result.rows[0].rev);
      if (rev > announcedRev) announcedRev = rev;
      if (rev > lastSeenRev) await check();
    } catch {
      // The server is away; the listener's reconnect re-reads when it is back.
    }
  }

  let reconnectDelay = 50;
  function scheduleReconnect(): void {
    if (!watching || reconnectTimer !== undefined) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connectListener();
    }, reconnectDelay);
    reconnectTimer.unref();
    reconnectDelay = Math.min(reconnectDelay * 2, 2000);
  }

  async function connectListener(): Promise<void> {
    if (!watching) return;
    // Named apart so an operator (and test/postgres/failures.test.ts) can tell the listener from the pool's connections.
    const client = new pg.Client({ ...clientConfig(), application_name: "credpool listener" });
    listenClient = client;
    listenReady = false;
    const lost = (): void => {
      if (listenClient !== client) return;
      listenClient = null;
      listenReady = false;
      client.end().catch(() => undefined);
      scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (message.channel !== channel || message.payload === undefined) return;
      const colon = message.payload.indexOf(":");
      if (message.payload.slice(colon + 1) !== docName) return;
      const rev = Number(message.payload.slice(0, colon));
      if (rev > announcedRev) announcedRev = rev;
      if (rev > lastSeenRev) void check();
    });
    try {
      await migrate();
      await client.connect();
      await client.query(`LISTEN ${ident(channel)}`);
      reconnectDelay = 50;
      if (!watching || listenClient !== client) {
        await client.end().catch(() => undefined);
        return;
      }
      listenReady = true;
      // Notifications sent while we were not listening are gone: read the document itself.
      await check();
    } catch {
      lost();
    }
  }

  function startWatching(): void {
    watching = true;
    void connectListener();
    pollTimer = setInterval(() => void pollRev(), options.pollIntervalMs);
    pollTimer.unref();
  }

  async function stopWatching(): Promise<void> {
    watching = false;
    lastSeenRev = -1;
    announcedRev = -1;
    listenReady = false;
    clearInterval(pollTimer);
    clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
    const client = listenClient;
    listenClient = null;
    if (client) await client.end().catch(() => undefined);
  }

  function watch(onChange: (change: DocumentChange<D>) => void): () => void {
    listeners.add(onChange);
    if (!watching) startWatching();
    return () => {
      listeners.delete(onChange);
      if (listeners.size === 0 && watching) void stopWatching();
    };
  }

  // ---- lock: lease rows with fencing numbers ---------------------------------------------------------------------

  const heldLocks = new Set<() => void>();

  async function tryAcquire(name: string, owner: string): Promise<number | undefined> {
    const result = await pool.query<{ fence: string }>(
      `INSERT INTO ${s}.locks (document, name, owner, fence, expires_at)
         VALUES ($1, $2, $3, nextval('${s}.lock_fence'), clock_timestamp() + make_interval(secs => $4 / 1000.0))
       ON CONFLICT (document, name) DO UPDATE
         SET owner = EXCLUDED.owner, fence = EXCLUDED.fence, expires_at = EXCLUDED.expires_at
         WHERE ${s}.locks.expires_at < clock_timestamp()
       RETURNING fence`,
      [docName, name, owner, options.lockTtlMs],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : Number(row.fence);
  }

  async function lock(name: string, lockOptions: LockOptions = {}): Promise<NamedLock> {
    if (!/^[\w.:@-]{1,128}$/.test(name)) {
      throw new PoolError("E_USAGE", `Invalid lock name ${JSON.stringify(name)}: use letters, digits and . : @ _ -`);
    }
    if (closed) throw new PoolError("E_CLOSED", `The ${spec.noun} backend for ${location} is closed.`);
    await migrate();
    const timeoutMs = lockOptions.timeoutMs ?? options.lockTimeoutMs;
    const owner = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;
    const started = performance.now();
    let backoff = 2;
    let fence: number | undefined;
    for (;;) {
      try {
        fence = await tryAcquire(name, owner);
      } catch (error) {
        throw fail(error, `take the lock ${name}`);
      }
      if (fence !== undefined) break;
      const waited = performance.now() - started;
      if (waited >= timeoutMs) {
        throw new PoolError(
          "E_LOCK_TIMEOUT",
          `Timed out after ${Math.round(waited)} ms waiting for the lock ${name} on ${location}. Another credpool ` +
            `process holds it; an abandoned lease expires ${options.lockTtlMs} ms after its last renewal.`,
          { details: { lock: name, waitedMs: Math.round(waited) } },
        );
      }
      // Full jitter keeps contending processes from retrying in lockstep.
      await sleep(Math.min(backoff * (0.5 + Math.random()), timeoutMs - waited));
      backoff = Math.min(backoff * 2, 50);
    }
    const heldFence = fence;
    const controller = new AbortController();
    let renewedAt = performance.now();
    let released = false;
    const compromised = (why: string): void => {
      if (controller.signal.aborted) return;
      controller.abort(
        new PoolError(
          "E_LOCK_COMPROMISED",
          `Lost the lock ${name} (fence ${heldFence}) on ${location}: ${why}; the transaction was aborted.`,
        ),
      );
      stop();
    };
    const renew = async (): Promise<void> => {
      // Our own clock first: after a pause past the TTL the lease may already belong to someone else.
      if (performance.now() - renewedAt > options.lockTtlMs) {
        compromised(`not renewed for more than its ${options.lockTtlMs} ms lease (was this process paused?)`);
        return;
      }
      try {
        const result = await pool.query(
          `UPDATE ${s}.locks SET expires_at = clock_timestamp() + make_interval(secs => $4 / 1000.0)
            WHERE document = $1 AND name = $2 AND owner = $3 AND fence = $5`,
          [docName, name, owner, options.lockTtlMs, heldFence],
        );
        if (released) return;
        if (result.rowCount === 0) compromised("another process took it over after the lease expired");
        else renewedAt = performance.now();
      } catch {
        // The next renewal tries again; the lease runs out on its own if the server stays away.
      }
    };
    const timer = setInterval(() => void renew(), Math.max(50, Math.floor(options.lockTtlMs / 3)));
    timer.unref();
    const stop = (): void => {
      clearInterval(timer);
      heldLocks.delete(stop);
    };
    heldLocks.add(stop);
    return {
      name,
      signal: controller.signal,
      async release() {
        if (released) return;
        released = true;
        stop();
        // After close() the pool is gone; the lease simply runs out.
        if (closed) return;
        try {
          await pool.query(`DELETE FROM ${s}.locks WHERE document = $1 AND name = $2 AND owner = $3 AND fence = $4`, [
            docName,
            name,
            owner,
            heldFence,
          ]);
        } catch (error) {
          throw fail(error, `release the lock ${name}`);
        }
      },
    };
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    if (flushing) await flushing;
    listeners.clear();
    await stopWatching();
    for (const stop of [...heldLocks]) stop();
    await pool.end().catch(() => undefined);
  }

  return {
    kind: "postgres",
    location,
    server,
    schema: options.schema,
    document: docName,
    capabilities: { watch: true, lock: true, groupCommit: true },
    read,
    update,
    watch,
    lock,
    migrate,
    close,
  };
}

/** The pool handle type the CLI and gateway use. */
export type PostgresPoolBackend = PostgresBackend<PoolDocument> & PoolBackend;

/**
 * Every credpool document in one schema, by name: the pool, the TOTP state, the gateway's client tokens and the usage
 * counts. What the CLI and the gateway hand to core when the store is PostgreSQL, so all hosts share all of them.
 */
export function createPostgresDocumentStore(rawOptions: Omit<PostgresBackendOptions, "document">): DocumentStore {
  const options = parseOptions(
    postgresBackendOptionsSchema.omit({ document: true }),
    rawOptions,
    "PostgreSQL store options",
  );
  resolveDriverSsl(options.ssl, new URL(options.url));
  return {
    kind: "postgres",
    location: `${describeServer(new URL(options.url))} schema ${options.schema}`,
    open(name, spec) {
      // The other documents see a few writes a second at most: two connections each are plenty.
      const maxConnections = name === "pool" ? options.maxConnections : Math.min(2, options.maxConnections);
      return createPostgresDocumentBackend(spec, { ...options, document: name, maxConnections });
    },
  };
}
