// The embedded file backend: lock, read fresh, apply, validate, fence, atomic write; many updates per commit.
import { chmod, mkdir, readdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import { PoolError, errnoCode, fromZodError, ioError } from "../errors.js";
import { parseOptions } from "../options.js";
import type {
  DocumentBackend,
  DocumentChange,
  DocumentHeader,
  LockOptions,
  Mutator,
  NamedLock,
  ReadResult,
} from "./backend.js";
import { watchDocument, type DocumentWatcher } from "./document-watcher.js";
import { applyValidBatch } from "./batch.js";
import { commitIO, identityOf, type CommitTarget, type LockedRead, type PublishInput } from "./commit-io.js";
import { newCommitId, pokeCommitWorker } from "./commit-thread.js";
import {
  applyMutators,
  createPieceEncoder,
  differs,
  parseDocumentReusing,
  piecesEqual,
  seal,
  serializePieces,
  trustPoolDocument,
  validatePoolDocument,
  type MutatorOutcome,
  type Validation,
} from "./draft.js";
import { isTempName } from "./file-identity.js";
import { acquireFileLock, lockTimeoutError } from "./file-lock.js";
import { parseDocument, readDocumentFile, readDocumentText, serializeDocument } from "./json-file.js";
import { resolvePoolPath } from "./paths.js";
import { createEmptyPoolDocument, poolDocumentSchema, type PoolDocument } from "./schema.js";

export const fileBackendOptionsSchema = z.strictObject({
  /** The document file. Defaults to $CREDPOOL_HOME/pool.json. */
  path: z.string().min(1).optional(),
  /** Lock age after which a crashed holder's lock is broken. proper-lockfile enforces at least 2000. */
  staleMs: z.number().int().min(2000).max(600_000).default(5000),
  lockTimeoutMs: z.number().int().positive().max(600_000).default(10_000),
  /** Create the file (and a 0700 directory) on first update when it is missing. */
  createIfMissing: z.boolean().default(true),
  /**
   * Accept a document file that is a symlink. Off by default: writes would go into the file it points at, outside
   * the directory whose mode protects the pool. See packages/pool-cli/test/symlink-pool.test.ts.
   */
  allowSymlink: z.boolean().default(false),
  /** Keep the revision before the latest commit as `<file>.bak` (a hard link, so two syscalls per commit). */
  backup: z.boolean().default(true),
  pollIntervalMs: z.number().int().min(10).default(1000),
  trailingRecheckMs: z.number().int().min(1).default(30),
  /** Observation hooks, for metrics and tests. */
  hooks: z
    .object({
      /** Called after each published write: how many updates it carried, lock wait and commit time. */
      onWrite: z.custom<(info: WriteInfo) => void>((v) => typeof v === "function").optional(),
    })
    .optional(),
});

export type FileBackendOptions = z.input<typeof fileBackendOptionsSchema>;

export interface WriteInfo {
  readonly rev: number;
  readonly updates: number;
  readonly bytes: number;
  /** Time spent waiting for the lock before this commit. */
  readonly lockWaitMs: number;
  /** Time from holding the lock to the document being durable. */
  readonly commitMs: number;
}

/** Describes one kind of document a file backend can hold. */
export interface DocumentSpec<D extends DocumentHeader> {
  /** Without transforms: a commit reads back its own serialized output as it is, without validating it again. */
  readonly schema: z.ZodType<D>;
  readonly empty: () => D;
  /** Named in errors, e.g. "pool" or "auth state". */
  readonly noun: string;
  /** `schema.safeParse`, validating again only what changed; output sealed (see draft.ts). */
  readonly validate?: (doc: unknown) => Validation<D>;
  /** Seals a document the schema gave, so later commits can share its parts. */
  readonly trust?: (doc: D) => D;
}

export const poolDocumentSpec: DocumentSpec<PoolDocument> = {
  schema: poolDocumentSchema,
  empty: createEmptyPoolDocument,
  noun: "pool",
  validate: validatePoolDocument,
  trust: trustPoolDocument,
};

export type FileBackend<D extends DocumentHeader = PoolDocument> = DocumentBackend<D> & {
  readonly path: string;
  readonly lockPath: string;
  readonly backupPath: string;
  /** Removes temp files that a crashed writer left behind, under the lock. Returns their names. */
  cleanupTempFiles(): Promise<string[]>;
};

interface PendingUpdate<D> {
  fn: Mutator<D>;
  resolve: (doc: D) => void;
  reject: (error: unknown) => void;
}

/**
 * A lock timeout this short leaves no room for a second try: the caller (the refresher) waits on its own terms, and a
 * lock it finds fresh fails at once, without a try.
 */
const SINGLE_TRY_MS = 1;
const SYMLINK_HINT = "allow it with --allow-symlink (the file backend's allowSymlink option)";
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export function createFileBackend(options: FileBackendOptions = {}): FileBackend<PoolDocument> {
  return createDocumentFileBackend(poolDocumentSpec, options);
}

export { isTempName };

export function createDocumentFileBackend<D extends DocumentHeader>(
  spec: DocumentSpec<D>,
  rawOptions: FileBackendOptions = {},
): FileBackend<D> {
  const options = parseOptions(fileBackendOptionsSchema, rawOptions, "file backend options");
  const path = resolve(options.path ?? resolvePoolPath());
  const dir = dirname(path);
  const fileName = basename(path);
  const lockPath = `${path}.lock`;
  const backupPath = `${path}.bak`;
  const lockDir = join(dir, `${fileName}.locks`);

  let queue: PendingUpdate<D>[] = [];
  let flushing: Promise<void> | null = null;
  let closed = false;
  let tempChecked = false;
  let directoryReady = false;
  /**
   * The text this process last read or wrote (as the pieces it wrote it from), with the identity of the file it was in
   * and the (sealed) document it holds. Inside the lock, a file with that identity is still this text: it needs no
   * read or parse again.
   */
  let known: Known | null = null;
  /** The last sealed document this process held: parts of the next one that equal its parts are taken from it. */
  let lastSealed: D | undefined;
  /** The commit's bytes, for the worker to write; this backend commits one batch at a time. */
  const encoder = createPieceEncoder();

  const lockOptions = { staleMs: options.staleMs, timeoutMs: options.lockTimeoutMs };
  const commitTarget: CommitTarget = {
    path,
    lockPath,
    ...lockOptions,
    followSymlink: options.allowSymlink,
    symlinkHint: SYMLINK_HINT,
  };

  async function ensureDirectory(): Promise<void> {
    if (directoryReady) return;
    try {
      await stat(dir);
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw ioError("open the pool directory", dir, error);
      if (!options.createIfMissing) throw missingError();
      try {
        await mkdir(dir, { recursive: true, mode: DIR_MODE });
        await chmod(dir, DIR_MODE);
      } catch (mkdirError) {
        throw ioError("create the pool directory", dir, mkdirError);
      }
    }
    directoryReady = true;
  }

  function missingError(): PoolError {
    return new PoolError(
      "E_POOL_NOT_FOUND",
      `No ${spec.noun} at ${path}. Run \`credpool init\` to create it, or pass --pool.`,
      { details: { path } },
    );
  }

  type Known = { text: string | readonly string[]; identity: string; doc?: D };
  type Current = ReadResult<D> & { exists: boolean; text: string | readonly string[]; identity?: string };

  /** A missing file is the empty document only when there is no backup to suggest loss. */
  async function missingDocument(): Promise<Current> {
    known = null;
    const backupText = await readDocumentText(backupPath).catch(() => null);
    if (backupText !== null) {
      throw new PoolError(
        "E_POOL_CORRUPT",
        `${path} is missing but its backup ${backupPath} exists; run \`credpool doctor --restore\` to restore it.`,
        { details: { path } },
      );
    }
    // Without this, createIfMissing: false only guarded the directory and update() still created the file.
    // See packages/pool-core/test/store/file-backend-options.test.ts.
    if (!options.createIfMissing) throw missingError();
    const doc = spec.empty();
    return { doc, rev: doc.rev, exists: false, text: "" };
  }

  /** read() and watchers get a document of their own, as before; a commit's base is sealed (see draft.ts). */
  function parsedDocument(file: { text: string; identity: string }, sealed: boolean): Current {
    const doc = sealed ? sealedDocument(file.text) : parseDocument(path, file.text, spec.schema);
    known = sealed ? { ...file, doc } : file;
    return { doc, rev: doc.rev, exists: true, text: file.text, identity: file.identity };
  }

  /** Parses what is on disk. */
  async function readCurrent(): Promise<Current> {
    const file = await readDocumentFile(path, { followSymlink: options.allowSymlink, symlinkHint: SYMLINK_HINT });
    return file === null ? missingDocument() : parsedDocument(file, false);
  }

  /**
   * What the lock holder found. "unchanged" means the file still has the identity of `cached`, the text this process
   * last read or wrote and validated then, so its document is taken from memory.
   */
  async function currentFrom(read: LockedRead, cached: Known | null): Promise<Current> {
    if (read.kind === "missing") return missingDocument();
    if (read.kind === "file") return parsedDocument(read, true);
    return currentOf(cached!);
  }

  /** The document this process last read or wrote, as a commit's base. */
  function currentOf(cached: Known): Current {
    const text = cached.text;
    const doc = cached.doc ?? sealedDocument(typeof text === "string" ? text : text.join(""));
    cached.doc = doc;
    return { doc, rev: doc.rev, exists: true, text: cached.text, identity: cached.identity };
  }

  function sealedDocument(text: string): D {
    lastSealed = parseDocumentReusing(path, text, spec, lastSealed);
    return lastSealed;
  }

  /** Remembers what we just published, as the lock holder found it before releasing the lock. */
  function rememberWritten(pieces: readonly string[], bytes: number, identity: string | null, doc: D): void {
    known = null;
    // A size check rules out someone else's file (a hand edit racing the lock) being taken for ours.
    if (identity !== null && identity.split(":")[2] === String(bytes)) known = { text: pieces, identity, doc };
    lastSealed = doc;
  }

  async function read(): Promise<ReadResult<D>> {
    const current = await readCurrent();
    return { doc: current.doc, rev: current.rev };
  }

  function runMutator(op: PendingUpdate<D>, draft: D): MutatorOutcome<D> {
    try {
      const result = op.fn(draft);
      if (result !== undefined && typeof (result as { then?: unknown }).then === "function") {
        // The caller gets E_USAGE; the discarded promise's own rejection would otherwise be unhandled and can
        // crash the process. See test/backend-conformance/suite.ts ("without leaving an unhandled rejection").
        (result as unknown as PromiseLike<unknown>).then(undefined, () => undefined);
        throw new PoolError("E_USAGE", "update() mutators must be synchronous; do async work outside the transaction.");
      }
      return { ok: true, doc: result ?? draft };
    } catch (error) {
      return { ok: false, error };
    }
  }

  function validate(doc: D): { ok: true; doc: D } | { ok: false; error: PoolError } {
    const result = spec.validate ? spec.validate(doc) : spec.schema.safeParse(doc);
    if (result.success) return { ok: true, doc: spec.validate ? result.data : seal(result.data) };
    return { ok: false, error: fromZodError("E_POOL_INVALID", `The update would make ${path} invalid`, result.error) };
  }

  async function removeOrphans(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const orphans = names.filter((name) => isTempName(fileName, name));
    for (const name of orphans) await unlink(join(dir, name)).catch(() => undefined);
    return orphans;
  }

  function rejectQueued(error: unknown): void {
    const failed = queue;
    queue = [];
    for (const op of failed) op.reject(error);
  }

  /** What a batch of mutators makes of `current`: the callers to settle, and what to publish if anything. */
  interface Plan {
    readonly settle: Array<() => void>;
    readonly accepted: PendingUpdate<D>[];
    /** Set when there is something to write; otherwise every accepted caller gets `result`. */
    readonly write?: { readonly committed: D; readonly pieces: readonly string[]; readonly data: Uint8Array };
    readonly result?: D;
  }

  function plan(current: Current, batch: PendingUpdate<D>[]): Plan {
    const settle: Array<() => void> = [];
    // Sealed, so each mutator drafts from it (or from the one before it) lazily: see draft.ts.
    const base = seal(current.doc);
    const {
      doc: next,
      accepted,
      rejected,
    } = applyValidBatch(base, batch, (from, ops) => applyMutators(from, ops, runMutator), validate);
    for (const [op, error] of rejected) settle.push(() => op.reject(error));
    if (accepted.length === 0) return { settle, accepted };

    // Compared with the bytes on disk: a file we wrote serializes identically when nothing changed. A hand-edited
    // one (other formatting) is rewritten once, which is harmless. A change the documents show needs no text to
    // prove it, so a commit that writes serializes once; the rest are compared piece by piece (draft.ts).
    if (
      current.exists &&
      !differs(next, current.doc) &&
      piecesEqual(serializePieces(reorderHeader(next)), current.text)
    ) {
      return { settle, accepted, result: next };
    }
    const committed = seal({ ...next, rev: current.rev + 1, updatedAt: new Date().toISOString() });
    // Never joined into one string: a large pool's text would be copied whole, then again on its way to the worker.
    // The bytes live in this backend's shared buffer until the next plan; one commit is planned at a time.
    const pieces = serializePieces(reorderHeader(committed));
    return { settle, accepted, write: { committed, pieces, data: encoder.encode(pieces) } };
  }

  function publishInput(current: Current, data: Uint8Array): PublishInput {
    return {
      data,
      mode: FILE_MODE,
      readIdentity: current.identity ?? null,
      expectedRev: current.rev,
      emptyRev: spec.empty().rev,
      backupPath: current.exists && options.backup ? backupPath : null,
    };
  }

  /** Whether the last commit found the file as this process had left it: the next is then built before the lock. */
  let lastFoundUnchanged = false;

  /**
   * Takes the lock, then commits everything queued by then: callers that arrive while we wait share the write.
   * The locked I/O runs in the commit worker (commit-io.ts); mutators, validation and serialization run here.
   *
   * When the last commit found the file unchanged (one writer, or the same one again), the batch is built first on
   * the document this process holds and sent with the lock request: if the file still has that identity it is
   * published in the same step, and the lock is held only for the syscalls. Otherwise the mutators run again on
   * what the lock holder read, as their contract allows (backend.ts).
   */
  async function commitQueued(): Promise<void> {
    const id = newCommitId();
    const cached = known;
    const io = commitIO();
    let batch: PendingUpdate<D>[] = [];
    let acquired: { waitedMs: number; read: LockedRead };
    // Callers settle only after the lock is released: a process that exits as soon as its update() resolves must
    // not leave the lock behind for others to wait out (see test/store/torn-files.test.ts).
    const settlements: Array<() => void> = [];
    try {
      await ensureDirectory();
      const guess = lastFoundUnchanged && tempChecked && cached?.doc !== undefined ? cached : null;
      const base = guess === null ? null : currentOf(guess);
      const guessed = base === null ? null : { ...base, batch: queue, plan: plan(base, queue) };
      if (guessed?.plan.write !== undefined) {
        queue = [];
        batch = guessed.batch;
        known = null;
        const started = performance.now();
        const { committed, pieces, data } = guessed.plan.write;
        const outcome = await io.commitIfUnchanged(id, commitTarget, guess!.identity, publishInput(guessed, data));
        if (outcome.kind === "published") {
          rememberWritten(pieces, data.byteLength, outcome.identity, committed);
          options.hooks?.onWrite?.({
            rev: committed.rev,
            updates: guessed.plan.accepted.length,
            bytes: data.byteLength,
            lockWaitMs: outcome.waitedMs,
            commitMs: performance.now() - started - outcome.waitedMs,
          });
          for (const settle of guessed.plan.settle) settle();
          for (const op of guessed.plan.accepted) op.resolve(committed);
          notifyLocal(guessed.rev, committed);
          return;
        }
        // Someone else committed since: the lock is ours, and the batch is built again on what it read.
        lastFoundUnchanged = false;
        acquired = outcome;
      } else {
        // Safe only under the lock: a live writer's temp file exists only while it holds this lock.
        acquired = await io.acquire(id, commitTarget, cached?.identity ?? null, !tempChecked);
      }
    } catch (error) {
      for (const op of batch) op.reject(error);
      rejectQueued(error);
      return;
    }
    tempChecked = true;
    batch = batch.concat(queue);
    queue = [];
    const lockedAt = performance.now();
    let handedOff = false;
    try {
      const current = await currentFrom(acquired.read, cached);
      lastFoundUnchanged = acquired.read.kind === "unchanged";
      const planned = plan(current, batch);
      settlements.push(...planned.settle);
      if (planned.write === undefined) {
        for (const op of planned.accepted) settlements.push(() => op.resolve(planned.result!));
        return;
      }
      const { committed, pieces, data } = planned.write;
      known = null;
      // The worker fences (nobody published since we read), keeps the backup, writes, and releases the lock.
      handedOff = true;
      const identity = await io.publish(id, commitTarget, publishInput(current, data));
      rememberWritten(pieces, data.byteLength, identity, committed);
      options.hooks?.onWrite?.({
        rev: committed.rev,
        updates: planned.accepted.length,
        bytes: data.byteLength,
        lockWaitMs: acquired.waitedMs,
        commitMs: performance.now() - lockedAt,
      });
      for (const op of planned.accepted) settlements.push(() => op.resolve(committed));
      notifyLocal(current.rev, committed);
    } catch (error) {
      for (const op of batch) settlements.push(() => op.reject(error));
    } finally {
      if (!handedOff) await io.release(id).catch(() => undefined);
      for (const settle of settlements) settle();
    }
  }

  async function flushLoop(): Promise<void> {
    while (queue.length > 0) await commitQueued();
    flushing = null;
  }

  function update(fn: Mutator<D>): Promise<D> {
    if (closed) return Promise.reject(new PoolError("E_CLOSED", `The ${spec.noun} backend for ${path} is closed.`));
    return new Promise<D>((resolvePromise, rejectPromise) => {
      queue.push({ fn, resolve: resolvePromise, reject: rejectPromise });
      flushing ??= flushLoop();
    });
  }

  // Watching: one shared directory watcher feeds every subscriber, plus our own commits immediately.
  const listeners = new Set<(change: DocumentChange<D>) => void>();
  let watcher: DocumentWatcher | null = null;
  let lastSeenRev = -1;
  /** The identity of the file whose document listeners were last given. */
  let seenIdentity: string | null = null;

  function emit(previousRev: number, doc: D): void {
    if (doc.rev <= lastSeenRev) return;
    const change: DocumentChange<D> = { previousRev: lastSeenRev < 0 ? previousRev : lastSeenRev, rev: doc.rev, doc };
    lastSeenRev = doc.rev;
    for (const listener of listeners) {
      try {
        listener(change);
      } catch {
        // A listener's bug must not stop the others from converging.
      }
    }
  }

  function notifyLocal(previousRev: number, doc: D): void {
    if (listeners.size === 0) return;
    seenIdentity = known?.identity ?? null;
    emit(previousRev, doc);
  }

  async function checkDisk(): Promise<void> {
    try {
      // Every change notification would otherwise re-read and validate the whole file, in every watching process:
      // with a hundred agents, most of the CPU a commit costs them. The same identity is the same bytes.
      if (seenIdentity !== null && (await identityOf(path, options.allowSymlink)) === seenIdentity) return;
      const current = await readCurrent();
      seenIdentity = current.identity ?? null;
      emit(lastSeenRev, current.doc);
    } catch {
      // A torn or unreadable file is never published as state; the next good rev will be.
    }
  }

  function watch(onChange: (change: DocumentChange<D>) => void): () => void {
    listeners.add(onChange);
    if (watcher === null) {
      watcher = watchDocument({
        path,
        pollIntervalMs: options.pollIntervalMs,
        trailingRecheckMs: options.trailingRecheckMs,
        check: checkDisk,
        onLockChange: pokeCommitWorker,
      });
      // Catch anything committed between the caller's last read and the watcher becoming ready.
      void watcher.ready.then(checkDisk);
    }
    return () => {
      listeners.delete(onChange);
      if (listeners.size === 0 && watcher !== null) {
        const stopping = watcher;
        watcher = null;
        lastSeenRev = -1;
        seenIdentity = null;
        void stopping.close();
      }
    };
  }

  /**
   * How long a lock that a try would find busy has been held ("held for 40 ms"), or null when it is free or stale. A
   * try costs the lock library a dozen filesystem calls (a process's first one, a precision probe besides); this
   * costs one stat. With 120 processes waiting on one refresh, their tries took the CPU its holder needed to commit
   * (bench/lib/fanout.mjs). A stale lock is left to a real try, which breaks it.
   */
  async function freshHolder(path: string): Promise<string | null> {
    try {
      const info = await stat(path);
      const at = Date.now();
      if (!info.isDirectory() || info.mtimeMs < at - options.staleMs) return null;
      const since = info.birthtimeMs > 0 ? info.birthtimeMs : info.mtimeMs;
      return `held for ${Math.max(0, Math.round(at - since))} ms`;
    } catch {
      return null;
    }
  }

  async function lock(name: string, lockOpts: LockOptions = {}): Promise<NamedLock> {
    if (!/^[\w.:@-]{1,128}$/.test(name)) {
      throw new PoolError("E_USAGE", `Invalid lock name ${JSON.stringify(name)}: use letters, digits and . : @ _ -`);
    }
    const safe = name.replace(/:/g, "_");
    const target = join(lockDir, safe);
    const timeoutMs = lockOpts.timeoutMs ?? options.lockTimeoutMs;
    if (timeoutMs <= SINGLE_TRY_MS) {
      const holder = await freshHolder(`${target}.lock`);
      if (holder !== null) throw lockTimeoutError(`${target}.lock`, 0, holder, options.staleMs);
    }
    await ensureDirectory();
    await mkdir(lockDir, { recursive: true, mode: DIR_MODE }).catch((error: unknown) => {
      throw ioError("create the lock directory", lockDir, error);
    });
    const held = await acquireFileLock(target, `${target}.lock`, {
      staleMs: options.staleMs,
      timeoutMs,
    });
    return { name, signal: held.signal, release: () => held.release() };
  }

  async function cleanupTempFiles(): Promise<string[]> {
    await ensureDirectory();
    const held = await acquireFileLock(path, lockPath, lockOptions);
    try {
      return await removeOrphans();
    } finally {
      await held.release();
    }
  }

  async function close(): Promise<void> {
    closed = true;
    if (flushing) await flushing;
    encoder.release();
    listeners.clear();
    if (watcher) {
      const stopping = watcher;
      watcher = null;
      await stopping.close();
    }
  }

  return {
    kind: "file",
    location: path,
    path,
    lockPath,
    backupPath,
    capabilities: { watch: true, lock: true, groupCommit: true },
    read,
    update,
    watch,
    lock,
    cleanupTempFiles,
    close,
  };
}

function headerText(doc: DocumentHeader): string {
  const { schemaVersion, rev, updatedAt } = doc;
  // Without the closing "\n}": the document's own text continues after the header where this one ends.
  return serializeDocument({ schemaVersion, rev, updatedAt }).slice(0, -2);
}

/** `serializeDocument(reorderHeader(to))`, given that text for `from`, which differs from `to` only in the header. */
export function replaceHeader(text: string, from: DocumentHeader, to: DocumentHeader): string {
  const before = headerText(from);
  const rest = text.slice(before.length);
  if (!text.startsWith(before) || !(rest.startsWith(",\n") || rest === "\n}")) {
    return serializeDocument(reorderHeader(to));
  }
  return headerText(to) + rest;
}

/** Header first, so a person (or `head`) sees schemaVersion and rev at the top of the file. */
function reorderHeader<D extends DocumentHeader>(doc: D): D {
  const { schemaVersion, rev, updatedAt, ...rest } = doc;
  return { schemaVersion, rev, updatedAt, ...rest } as unknown as D;
}
