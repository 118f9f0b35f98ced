// The doctor's repairs. Each is safe while other processes use the pool: modes are only tightened, locks and
// temp files are removed only when provably abandoned, and a restore runs under the pool lock and keeps the
// damaged file.
import { chmod, copyFile, readdir, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { PoolError, errnoCode, isPoolError } from "../errors.js";
import { createFileBackend } from "../store/file-backend.js";
import { acquireFileLock } from "../store/file-lock.js";
import { parseDocument, publishDocument, readDocumentText, serializeDocument } from "../store/json-file.js";
import { poolDocumentSchema } from "../store/schema.js";
import { isLeftoverTempName, octal, poolFilesOf } from "./shared.js";

export interface RepairPoolOptions {
  readonly path: string;
  readonly staleMs?: number;
  readonly lockTimeoutMs?: number;
}

export interface RepairAction {
  readonly check: string;
  readonly message: string;
}

export interface RestoreResult {
  /** The rev the restored document was published as (above anything seen, so watchers pick it up). */
  readonly rev: number;
  /** The revision brought back, and when it was committed. */
  readonly backupRev: number;
  readonly backupUpdatedAt: string;
  /** The damaged file's rev, where it could still be read: what the restore knowingly rolls back. */
  readonly damagedRev: number | undefined;
  /** Where the damaged file was kept, if there was one. */
  readonly keptAs: string | undefined;
}

const DEFAULT_STALE_MS = 5000;
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

async function tighten(path: string, wanted: number, check: string, actions: RepairAction[]): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info || (info.mode & 0o077) === 0) return;
  await chmod(path, wanted);
  actions.push({ check, message: `chmod ${octal(info.mode)} → ${octal(wanted)} ${path}` });
}

/** Removes a lock directory only if it is still stale at the moment of removal. */
async function removeIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  const info = await stat(lockPath).catch(() => undefined);
  if (!info || Date.now() - info.mtimeMs <= staleMs) return false;
  try {
    await rmdir(lockPath);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

/** Tightens modes, removes stale locks and leftover temp files. */
export async function repairPool(options: RepairPoolOptions): Promise<RepairAction[]> {
  const files = poolFilesOf(options.path);
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const actions: RepairAction[] = [];
  await tighten(files.dir, 0o700, "pool-dir", actions);
  await tighten(files.path, 0o600, "pool-file", actions);
  await tighten(files.backupPath, 0o600, "backup", actions);

  if (await removeIfStale(files.lockPath, staleMs))
    actions.push({ check: "lock", message: `removed the stale lock ${files.lockPath}` });
  for (const name of await readdir(files.namedLockDir).catch(() => [] as string[])) {
    if (name.endsWith(".lock") && (await removeIfStale(join(files.namedLockDir, name), staleMs))) {
      actions.push({ check: "named-locks", message: `removed the stale lock ${join(files.namedLockDir, name)}` });
    }
  }

  const names = await readdir(files.dir).catch(() => [] as string[]);
  if (names.some((name) => isLeftoverTempName(files.fileName, name))) {
    // Under the pool lock: a live writer's temp file exists only while it holds that lock.
    const backend = createFileBackend({
      path: files.path,
      createIfMissing: false,
      staleMs: Math.max(2000, staleMs),
      lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    });
    try {
      const removed = await backend.cleanupTempFiles();
      if (removed.length > 0) actions.push({ check: "temp-files", message: `removed ${removed.join(", ")}` });
    } finally {
      await backend.close();
    }
  }
  return actions;
}

function revHint(text: string | null): number | undefined {
  const match = text === null ? null : /"rev"\s*:\s*(\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * Replaces a corrupt or missing pool file with its backup, under the pool lock. The damaged file is kept as
 * `<file>.corrupt-<time>`. The restored document gets a rev above anything seen, so watchers pick it up.
 * Refuses when the current file is valid unless `force`.
 */
export async function restorePoolBackup(options: RepairPoolOptions & { force?: boolean }): Promise<RestoreResult> {
  const files = poolFilesOf(options.path);
  const staleMs = Math.max(2000, options.staleMs ?? DEFAULT_STALE_MS);
  const lock = await acquireFileLock(files.path, files.lockPath, {
    staleMs,
    timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
  });
  try {
    const backupText = await readDocumentText(files.backupPath);
    if (backupText === null) {
      throw new PoolError("E_NOT_FOUND", `There is no backup ${files.backupPath} to restore.`, {
        details: { path: files.backupPath },
      });
    }
    let backup;
    try {
      backup = parseDocument(files.backupPath, backupText, poolDocumentSchema);
    } catch (error) {
      throw new PoolError(
        "E_POOL_CORRUPT",
        `The backup cannot be restored: ${isPoolError(error) ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    const currentText = await readDocumentText(files.path);
    let currentValid = false;
    if (currentText !== null) {
      try {
        parseDocument(files.path, currentText, poolDocumentSchema);
        currentValid = true;
      } catch {
        currentValid = false;
      }
    }
    if (currentValid && !options.force) {
      throw new PoolError(
        "E_USAGE",
        `${files.path} is valid; --restore only replaces a corrupt or missing pool. Add --force to roll back to the backup (rev ${backup.rev}).`,
      );
    }
    let keptAs: string | undefined;
    if (currentText !== null) {
      keptAs = `${files.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      await copyFile(files.path, keptAs);
      await chmod(keptAs, 0o600);
    }
    if (lock.signal.aborted) throw lock.signal.reason;
    const damagedRev = revHint(currentText);
    const rev = Math.max(backup.rev + 1, damagedRev ?? 0) + 1;
    const { schemaVersion, updatedAt: _updatedAt, rev: _rev, ...rest } = backup;
    const restored = { schemaVersion, rev, updatedAt: new Date().toISOString(), ...rest };
    await publishDocument(files.path, serializeDocument(restored), 0o600);
    return { rev, backupRev: backup.rev, backupUpdatedAt: backup.updatedAt, damagedRev, keptAs };
  } finally {
    await lock.release();
  }
}
