// Reading and rewriting other tools' JSON files. Reads tolerate a torn write in progress; rewrites are atomic, go
// through symlinks, and keep the file's mode, owner, formatting and every field we do not manage.
import { lstat, realpath, stat } from "node:fs/promises";
import { dirname } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { PoolError, errnoCode } from "../errors.js";
import { fsyncDirectory, readDocumentText } from "../store/index.js";

export interface SourceFile {
  readonly path: string;
  readonly json: unknown;
  readonly text: string;
  readonly mtimeMs: number;
}

/** Other tools often write in place, so a read can catch half a file: retry a few times before calling it broken. */
const TORN_READ_RETRIES = 4;
const TORN_READ_DELAY_MS = 40;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sourceIoError(action: string, path: string, error: unknown): PoolError {
  const code = errnoCode(error) ?? (error as Error).message;
  const kept = action === "write" ? " The file keeps its previous contents, and nothing" : " Nothing";
  return new PoolError("E_SOURCE", `Could not ${action} ${path}: ${code}.${kept} was changed in the pool.`, {
    cause: error,
    details: { path, errno: errnoCode(error) },
  });
}

/** The parsed file, or null when it does not exist. Unreadable or invalid files are E_SOURCE, never "empty". */
export async function readSourceFile(path: string): Promise<SourceFile | null> {
  let lastError: unknown;
  for (let attempt = 0; attempt <= TORN_READ_RETRIES; attempt++) {
    if (attempt > 0) await sleep(TORN_READ_DELAY_MS * attempt);
    let text: string | null;
    let mtimeMs: number;
    try {
      // stat before reading: if the file changes in between, the recorded mtime is older, which only makes the
      // next sync re-check it (the stale-read guard compares mtimes).
      mtimeMs = (await stat(path)).mtimeMs;
      text = await readDocumentText(path);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      const cause = (error as { cause?: unknown }).cause ?? error;
      throw sourceIoError("read", path, cause);
    }
    if (text === null) return null;
    try {
      return { path, json: JSON.parse(text) as unknown, text, mtimeMs };
    } catch (error) {
      lastError = error;
    }
  }
  throw new PoolError(
    "E_SOURCE",
    `${path} is not valid JSON (${(lastError as Error).message.replace(/, ".*$/s, "")}). It was left untouched; fix or recreate it in the tool that owns it.`,
    { cause: lastError, details: { path } },
  );
}

function detectIndent(text: string): string | number | undefined {
  const match = /^\{\s*\n([ \t]+)"/.exec(text);
  if (!match?.[1]) return text.includes("\n") ? 2 : undefined;
  return match[1].startsWith("\t") ? "\t" : match[1].length;
}

/**
 * Rewrites a source file in place: `patch` gets the freshly read JSON and returns the new JSON, or undefined to
 * leave the file alone. The write replaces the symlink's target, never the symlink, and keeps its mode and owner.
 * Returns whether the file was written.
 */
export async function rewriteSourceFile(path: string, patch: (json: unknown) => unknown): Promise<boolean> {
  let target: string;
  try {
    await lstat(path);
    target = await realpath(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw sourceIoError("open", path, error);
  }
  const current = await readSourceFile(target);
  if (current === null) return false;
  const next = patch(structuredClone(current.json));
  if (next === undefined) return false;
  const indent = detectIndent(current.text);
  const trailingNewline = current.text.endsWith("\n") ? "\n" : "";
  const text = `${JSON.stringify(next, null, indent)}${trailingNewline}`;
  if (text === current.text) return false;
  let info;
  try {
    info = await stat(target);
  } catch (error) {
    throw sourceIoError("stat", target, error);
  }
  try {
    await writeFileAtomic(target, text, {
      mode: info.mode & 0o7777,
      chown: { uid: info.uid, gid: info.gid },
      fsync: true,
    });
    await fsyncDirectory(dirname(target));
  } catch (error) {
    throw sourceIoError("write", target, error);
  }
  return true;
}
