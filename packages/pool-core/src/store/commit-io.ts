// A file commit's locked I/O, in two interchangeable forms that speak the same lock protocol on disk: the commit
// worker (synchronous syscalls off the main thread, two messages per commit) and promise-based node:fs on the main
// thread, used only while the worker starts, so a process's first commit does not wait ~40 ms for a thread.
import { randomBytes } from "node:crypto";
import { link, lstat, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { PoolError, errnoCode, ioError } from "../errors.js";
import {
  fromErrorInfo,
  type AcquireReply,
  type PublishInput,
  type PublishReply,
  type ReadOutcome,
} from "./commit-protocol.js";

export type { PublishInput };
import { commitWorker, commitWorkerStarted } from "./commit-thread.js";
import { fileIdentity, isTempName, revFromHead } from "./file-identity.js";
import { acquireFileLock, lockCompromisedError, lockTimeoutError, type HeldFileLock } from "./file-lock.js";
import {
  notRegularFileError,
  publishDocument,
  readDocumentFile,
  readDocumentText,
  symlinkError,
  writeError,
} from "./json-file.js";

export interface CommitTarget {
  readonly path: string;
  readonly lockPath: string;
  readonly staleMs: number;
  readonly timeoutMs: number;
  readonly followSymlink: boolean;
  /** How to allow a symlinked file, for the error that refuses one. */
  readonly symlinkHint: string;
}

/** What the lock holder found: the file as it last knew it, nothing, or new bytes. */
export type LockedRead = Extract<ReadOutcome, { kind: "unchanged" | "missing" | "file" }>;

export interface CommitIO {
  /** Takes the lock and reads the file unless it still has `knownIdentity`. Fails with the lock released. */
  acquire(
    id: number,
    target: CommitTarget,
    knownIdentity: string | null,
    removeOrphans: boolean,
  ): Promise<{ waitedMs: number; read: LockedRead }>;
  /**
   * Fences, keeps the backup, writes durably and releases the lock (kept only when it was lost to another
   * process). Resolves with the identity of the file written.
   */
  publish(id: number, target: CommitTarget, input: PublishInput): Promise<string | null>;
  /**
   * One step for a commit built on the document this process last read or wrote: takes the lock and, when the file
   * still has `knownIdentity`, publishes `input` as `publish` does. Otherwise keeps the lock and returns what
   * `acquire` would have read. The lock is then never held while the caller applies its mutators.
   */
  commitIfUnchanged(id: number, target: CommitTarget, knownIdentity: string, input: PublishInput): Promise<Optimistic>;
  release(id: number): Promise<void>;
}

export type Optimistic =
  | { readonly kind: "published"; readonly waitedMs: number; readonly identity: string | null }
  | { readonly kind: "read"; readonly waitedMs: number; readonly read: LockedRead };

function fenceError(path: string, expectedRev: number, diskRev: number): PoolError {
  // The lock is released as after a commit: it can still be ours (we broke the lock of a paused holder, which then
  // committed, or the file was edited by hand), and kept it would block every writer for good.
  // See models/store-commit.pml (M_ABORT_KEEPS_LOCK).
  return new PoolError(
    "E_LOCK_COMPROMISED",
    `${path} changed under our lock (rev ${expectedRev} became ${diskRev}); this transaction was aborted so the newer commit survives.`,
    { details: { path } },
  );
}

async function readError(target: CommitTarget, read: ReadOutcome): Promise<PoolError | null> {
  switch (read.kind) {
    case "symlink":
      return symlinkError(target.path, target.symlinkHint, fromErrorInfo(read.error));
    case "not-file":
      return notRegularFileError(target.path, read.fileType);
    case "error":
      return ioError("read", target.path, fromErrorInfo(read.error));
    default:
      return null;
  }
}

function publishError(target: CommitTarget, reply: Extract<PublishReply, { ok: false }>, expectedRev: number) {
  switch (reply.reason) {
    case "compromised":
      return lockCompromisedError(target.lockPath, target.staleMs, fromErrorInfo(reply.error));
    case "fence":
      return fenceError(target.path, expectedRev, reply.diskRev);
    case "reread":
      return ioError("re-read", target.path, fromErrorInfo(reply.error));
    case "write":
      return writeError(target.path, fromErrorInfo(reply.error));
    case "dirsync":
      return ioError("fsync the directory of", target.path, fromErrorInfo(reply.error));
  }
}

/** The lock and read an acquire reply reports, or its failure thrown (with the lock released). */
async function acquiredOrThrow(
  id: number,
  target: CommitTarget,
  reply: AcquireReply,
): Promise<{ waitedMs: number; read: LockedRead }> {
  if (!reply.ok) {
    if (reply.reason === "timeout") {
      throw lockTimeoutError(target.lockPath, reply.waitedMs, reply.holder, target.staleMs);
    }
    throw ioError("take the lock", target.lockPath, fromErrorInfo(reply.error));
  }
  const failed = await readError(target, reply.read);
  if (failed !== null) {
    await commitWorker().release(id);
    throw failed;
  }
  return { waitedMs: reply.waitedMs, read: reply.read as LockedRead };
}

function lockRequest(id: number, target: CommitTarget) {
  return {
    id,
    path: target.path,
    lockPath: target.lockPath,
    staleMs: target.staleMs,
    timeoutMs: target.timeoutMs,
    followSymlink: target.followSymlink,
  };
}

const workerIO: CommitIO = {
  async acquire(id, target, knownIdentity, removeOrphans) {
    const reply = await commitWorker().acquire({ ...lockRequest(id, target), knownIdentity, removeOrphans });
    return acquiredOrThrow(id, target, reply);
  },
  async publish(id, target, input) {
    const reply = await commitWorker().publish({ id, ...input });
    if (!reply.ok) throw publishError(target, reply, input.expectedRev);
    return reply.identity;
  },
  async commitIfUnchanged(id, target, knownIdentity, input) {
    const { acquired, published } = await commitWorker().commit({ ...lockRequest(id, target), knownIdentity, input });
    const { waitedMs, read } = await acquiredOrThrow(id, target, acquired);
    if (published === undefined) return { kind: "read", waitedMs, read };
    if (!published.ok) throw publishError(target, published, input.expectedRev);
    return { kind: "published", waitedMs, identity: published.identity };
  },
  release: (id) => commitWorker().release(id),
};

export async function identityOf(path: string, followSymlink: boolean): Promise<string | null> {
  try {
    const info = await (followSymlink ? stat : lstat)(path, { bigint: true });
    return info.isFile() ? fileIdentity(info) : null;
  } catch {
    return null;
  }
}

async function readRevOnDisk(path: string, emptyRev: number): Promise<number> {
  let head: string;
  try {
    const handle = await open(path, "r");
    try {
      const buffer = Buffer.alloc(256);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.toString("utf8", 0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return emptyRev;
    throw ioError("re-read", path, error);
  }
  const rev = revFromHead(head);
  if (rev !== undefined) return rev;
  const text = await readDocumentText(path);
  if (text === null) return emptyRev;
  try {
    const parsed = (JSON.parse(text) as { rev?: unknown }).rev;
    return typeof parsed === "number" ? parsed : -1;
  } catch {
    return -1;
  }
}

async function keepBackup(path: string, backupPath: string): Promise<void> {
  // A hard link to the inode about to be replaced: the previous good document, at the cost of two syscalls.
  const temp = `${backupPath}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await link(path, temp);
    await rename(temp, backupPath);
  } catch {
    // Best effort: a missing backup never blocks a commit.
  }
  // After a failed publish the backup already links this inode, and rename() between two links to one inode
  // succeeds without removing `temp`. See test/store/fault-injection.test.ts.
  await unlink(temp).catch(() => undefined);
}

async function removeOrphansIn(path: string): Promise<void> {
  const dir = dirname(path);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (isTempName(basename(path), name)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

const heldOnMainThread = new Map<number, { lock: HeldFileLock; followSymlink: boolean }>();

const mainThreadIO: CommitIO = {
  async acquire(id, target, knownIdentity, removeOrphans) {
    const lock = await acquireFileLock(target.path, target.lockPath, {
      staleMs: target.staleMs,
      timeoutMs: target.timeoutMs,
    });
    try {
      if (removeOrphans) await removeOrphansIn(target.path);
      let read: LockedRead;
      if (knownIdentity !== null && (await identityOf(target.path, target.followSymlink)) === knownIdentity) {
        read = { kind: "unchanged" };
      } else {
        const file = await readDocumentFile(target.path, {
          followSymlink: target.followSymlink,
          symlinkHint: target.symlinkHint,
        });
        read = file === null ? { kind: "missing" } : { kind: "file", ...file };
      }
      heldOnMainThread.set(id, { lock, followSymlink: target.followSymlink });
      return { waitedMs: lock.waitedMs, read };
    } catch (error) {
      await lock.release();
      throw error;
    }
  },
  async publish(id, target, input) {
    const held = heldOnMainThread.get(id);
    heldOnMainThread.delete(id);
    if (held === undefined) throw new PoolError("E_LOCK_COMPROMISED", `No lock is held for ${target.path}.`);
    const { lock, followSymlink } = held;
    let lockLost = false;
    try {
      if (lock.signal.aborted) {
        lockLost = true;
        throw lock.signal.reason;
      }
      const diskRev =
        input.readIdentity !== null && (await identityOf(target.path, followSymlink)) === input.readIdentity
          ? input.expectedRev
          : await readRevOnDisk(target.path, input.emptyRev);
      if (lock.signal.aborted) {
        lockLost = true;
        throw lock.signal.reason;
      }
      if (diskRev !== input.expectedRev) throw fenceError(target.path, input.expectedRev, diskRev);
      if (input.backupPath !== null) await keepBackup(target.path, input.backupPath);
      await publishDocument(target.path, input.data, input.mode);
      return await identityOf(target.path, followSymlink);
    } finally {
      if (!lockLost) await lock.release();
    }
  },
  async commitIfUnchanged(id, target, knownIdentity, input) {
    const { waitedMs, read } = await mainThreadIO.acquire(id, target, knownIdentity, false);
    if (read.kind !== "unchanged") return { kind: "read", waitedMs, read };
    const identity = await mainThreadIO.publish(id, target, { ...input, readIdentity: knownIdentity });
    return { kind: "published", waitedMs, identity };
  },
  async release(id) {
    const held = heldOnMainThread.get(id);
    heldOnMainThread.delete(id);
    await held?.lock.release();
  },
};

let commitsSeen = 0;

/**
 * The worker once it is up, else the main thread. A commit keeps the form it began with, since its lock lives there.
 * The worker starts at a process's second commit: a process that commits once (a CLI command, most of a hundred
 * agents started at once) would spend more starting a thread than the thread saves it.
 */
export function commitIO(): CommitIO {
  commitsSeen++;
  if (commitsSeen < 2 && !commitWorkerStarted()) return mainThreadIO;
  return commitWorker().ready ? workerIO : mainThreadIO;
}

/**
 * Starts the commit worker now rather than at the first commit, for a process that will commit soon (a gateway at
 * start-up). Resolves true once it is ready, false when it could not start (commits then stay on the main thread).
 */
export async function prepareCommitWorker(): Promise<boolean> {
  const worker = commitWorker();
  await worker.whenStarted();
  return worker.ready;
}
