// Paths and file-name rules the doctor shares with the file backend.
import { basename, dirname, join } from "node:path";

export interface PoolFiles {
  readonly path: string;
  readonly dir: string;
  readonly fileName: string;
  readonly lockPath: string;
  readonly backupPath: string;
  /** Named locks (e.g. refresh:<id>) live here. */
  readonly namedLockDir: string;
}

export function poolFilesOf(path: string): PoolFiles {
  const fileName = basename(path);
  return {
    path,
    dir: dirname(path),
    fileName,
    lockPath: `${path}.lock`,
    backupPath: `${path}.bak`,
    namedLockDir: join(dirname(path), `${fileName}.locks`),
  };
}

/** Temp names a crashed writer leaves: write-file-atomic's `<file>.<uint32>` and the backup's `<file>.bak.<hex>.tmp`. */
// Must match isTempName in store/file-backend.ts, which removes them on a writer's first commit.
export function isLeftoverTempName(fileName: string, candidate: string): boolean {
  if (!candidate.startsWith(`${fileName}.`)) return false;
  const suffix = candidate.slice(fileName.length + 1);
  return /^\d+$/.test(suffix) || /^bak\.[0-9a-f]+\.tmp$/.test(suffix);
}

export function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
