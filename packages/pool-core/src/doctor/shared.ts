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

/** The store's own rule, so doctor reports exactly what a writer's first commit would remove. */
export { isTempName as isLeftoverTempName } from "../store/file-backend.js";

export function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
