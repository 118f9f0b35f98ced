// Cross-process advisory lock: proper-lockfile's mkdir lock at a stable path, retried with a short jittered backoff.
import fs from "node:fs";
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import lockfile from "proper-lockfile";
import { PoolError, errnoCode, ioError } from "../errors.js";

export interface FileLockOptions {
  /** A lock whose mtime is older than this is considered abandoned (proper-lockfile's minimum is 2000). */
  staleMs: number;
  timeoutMs: number;
}

export interface HeldFileLock {
  readonly lockPath: string;
  readonly signal: AbortSignal;
  /** Time spent waiting to acquire, for metrics. */
  readonly waitedMs: number;
  release(): Promise<void>;
}

const MIN_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 25;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function describeHolder(lockPath: string): Promise<string> {
  try {
    const info = await stat(lockPath);
    // proper-lockfile refreshes mtime while held, so birthtime is the better "held since" when the fs has it.
    const since = info.birthtimeMs > 0 ? info.birthtimeMs : info.mtimeMs;
    return `held for ${Math.max(0, Math.round(Date.now() - since))} ms`;
  } catch {
    return "released just now";
  }
}

export function lockCompromisedError(lockPath: string, staleMs: number, cause: unknown): PoolError {
  return new PoolError(
    "E_LOCK_COMPROMISED",
    `Lost the lock ${lockPath} while holding it (paused longer than ${staleMs} ms?); the transaction was aborted.`,
    { cause },
  );
}

/** `holder` says how long the lock has been held, e.g. "held for 40 ms". */
export function lockTimeoutError(lockPath: string, waitedMs: number, holder: string, staleMs: number): PoolError {
  return new PoolError(
    "E_LOCK_TIMEOUT",
    `Timed out after ${Math.round(waitedMs)} ms waiting for the lock ${lockPath} (${holder}). ` +
      `Another credpool process is holding it; if none is running, it goes stale after ${staleMs} ms, or run \`credpool doctor\`.`,
    { details: { lockPath, waitedMs: Math.round(waitedMs) } },
  );
}

/**
 * Two waiters can both find a lock stale; one removes it, retakes it, and the other's removal then takes that new
 * lock away, so proper-lockfile's stat of the lock it just made fails with ENOENT. That is contention, not an I/O
 * failure: try again. An ENOENT because the directory itself is gone is still an error.
 */
export async function lostTakeoverRace(error: unknown, lockPath: string): Promise<boolean> {
  if (errnoCode(error) !== "ENOENT") return false;
  return stat(dirname(lockPath)).then(
    () => true,
    () => false,
  );
}

let precisionProbed: Promise<void> | null = null;

/**
 * proper-lockfile learns the filesystem's mtime precision on the first lock a process takes, and it does so by
 * stamping that lock up to 1 s in the future, which would delay stale detection of a crashed first holder past
 * `staleMs`. Spend that first lock on a throwaway path instead (see test/store/sigkill-loop.test.ts).
 */
function probeMtimePrecision(dir: string): Promise<void> {
  precisionProbed ??= (async () => {
    const probe = join(dir, `.credpool-probe-${process.pid}-${randomBytes(4).toString("hex")}`);
    try {
      const release = await lockfile.lock(probe, { lockfilePath: `${probe}.lock`, realpath: false, fs });
      await release();
    } catch {
      // Best effort: without the probe the first lock is merely stamped late.
    }
  })();
  return precisionProbed;
}

/**
 * Acquires `lockPath` (a directory proper-lockfile creates). `target` is the path the lock guards; it need not
 * exist, because `realpath: false` keeps the lock at a stable path even while the target is replaced by rename.
 */
export async function acquireFileLock(
  target: string,
  lockPath: string,
  options: FileLockOptions,
): Promise<HeldFileLock> {
  await probeMtimePrecision(dirname(lockPath));
  const started = performance.now();
  const controller = new AbortController();
  let backoff = MIN_BACKOFF_MS;
  for (;;) {
    try {
      const release = await lockfile.lock(target, {
        lockfilePath: lockPath,
        realpath: false,
        stale: options.staleMs,
        retries: 0,
        // Plain node:fs (not graceful-fs) so every call is a real syscall that fault injection can reach.
        fs,
        onCompromised: (error) => controller.abort(lockCompromisedError(lockPath, options.staleMs, error)),
      });
      let released = false;
      return {
        lockPath,
        signal: controller.signal,
        waitedMs: performance.now() - started,
        release: async () => {
          if (released) return;
          released = true;
          // A compromised lock is no longer ours to remove; proper-lockfile rejects and that is expected.
          await release().catch(() => undefined);
        },
      };
    } catch (error) {
      if (errnoCode(error) !== "ELOCKED" && !(await lostTakeoverRace(error, lockPath))) {
        throw ioError("take the lock", lockPath, error);
      }
      const waited = performance.now() - started;
      if (waited >= options.timeoutMs) {
        throw lockTimeoutError(lockPath, waited, await describeHolder(lockPath), options.staleMs);
      }
      // Full jitter keeps contending processes from retrying in lockstep.
      await sleep(Math.min(backoff * (0.5 + Math.random()), options.timeoutMs - waited));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}
