// Reading and publishing one JSON document file: strict parse with positions, rename-only writes, dir fsync.
import fs from "node:fs";
import { open, readlink } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import writeFileAtomic from "write-file-atomic";
import type { z } from "zod";
import { PoolError, errnoCode, fromZodError, ioError } from "../errors.js";
import { describeFileType, fileIdentity } from "./file-identity.js";

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}

/** Describes a JSON syntax error without echoing file content, which may hold secrets. */
function describeSyntaxError(text: string, error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const match = /at position (\d+)/.exec(raw);
  const position = match ? Number(match[1]) : /end of JSON input/.test(raw) ? text.length : 0;
  const reason = raw
    // V8 quotes the text around the bad byte, with `...` on either side when it cut it short; both forms must go
    // (see test/store/torn-files.test.ts, "garbage in place of the tail").
    .replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, "")
    .replace(/ in JSON at position \d+.*$/s, "")
    .replace(/ at position \d+.*$/s, "");
  const { line, column } = lineAndColumn(text, position);
  return `invalid JSON at line ${line}, column ${column}: ${reason}`;
}

/** Parses and validates `text`; any problem is E_POOL_CORRUPT naming `path`. */
export function parseDocument<S extends z.ZodType>(path: string, text: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PoolError("E_POOL_CORRUPT", `${path} is corrupt: ${describeSyntaxError(text, error)}.`, {
      cause: error,
      details: { path },
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const version = (value as { schemaVersion?: unknown } | null)?.schemaVersion;
    if (typeof version === "number" && version > 1) {
      throw new PoolError(
        "E_POOL_CORRUPT",
        `${path} has schemaVersion ${version}, newer than this credpool understands; upgrade credpool.`,
        { details: { path } },
      );
    }
    const wrapped = fromZodError("E_POOL_CORRUPT", `${path} does not match the pool schema`, result.error);
    (wrapped as { details?: Record<string, unknown> }).details = { path };
    throw wrapped;
  }
  return result.data;
}

export interface RawDocument {
  readonly text: string;
}

export { fileIdentity } from "./file-identity.js";

export interface ReadDocumentOptions {
  /**
   * Follow a symlink at `path` (default true). The pool file passes false unless the user allowed it: a rename
   * replaces the link, but write-file-atomic resolves it first and writes into the file it points at.
   */
  readonly followSymlink?: boolean;
  /** How to allow a symlink, for the error that refuses one, e.g. "pass --allow-symlink". */
  readonly symlinkHint?: string;
}

/** The refusal of a symlinked document, naming the link and its target. See packages/pool-cli/test/symlink-pool.test.ts. */
export async function symlinkError(path: string, hint: string | undefined, cause: unknown): Promise<PoolError> {
  const target = await readlink(path).catch(() => undefined);
  const resolved = target === undefined ? "TARGET" : resolve(dirname(path), target);
  return new PoolError(
    "E_POOL_IO",
    `Refusing ${path}: it is a symbolic link${target === undefined ? "" : ` to ${target}`}, and writes would go into that file. ` +
      `Move the file itself into place (\`mv ${resolved} ${path}\`), point --pool at the target` +
      `${hint ? `, or ${hint}` : ""}.`,
    { cause, details: { path, ...(target === undefined ? {} : { target }) } },
  );
}

/** The refusal of a FIFO, socket, directory or device where a document should be. */
export function notRegularFileError(path: string, fileType: string): PoolError {
  return new PoolError("E_POOL_IO", `Could not read ${path}: it is ${fileType}, not a regular file. Move it away.`, {
    details: { path },
  });
}

/**
 * Reads the file; `null` only when it does not exist. Any other failure is an error, never "empty".
 * Opened non-blocking and checked with fstat first: a FIFO at the path would otherwise block the read forever
 * (and hold a libuv thread). See packages/pool-core/test/store/short-writes.test.ts.
 */
export async function readDocumentText(path: string, options: ReadDocumentOptions = {}): Promise<string | null> {
  return (await readDocumentFile(path, options))?.text ?? null;
}

/** What `readDocumentText` reads, with the identity (device, inode, size, times) of the file it read it from. */
export async function readDocumentFile(
  path: string,
  options: ReadDocumentOptions = {},
): Promise<{ text: string; identity: string } | null> {
  const follow = options.followSymlink ?? true;
  let handle;
  try {
    handle = await open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (follow ? 0 : fs.constants.O_NOFOLLOW));
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return null;
    // O_NOFOLLOW on a symlink (dangling or not) fails with ELOOP.
    if (!follow && errnoCode(error) === "ELOOP") throw await symlinkError(path, options.symlinkHint, error);
    throw ioError("read", path, error);
  }
  try {
    const info = await handle.stat({ bigint: true });
    if (!info.isFile()) throw notRegularFileError(path, describeFileType(info));
    return { text: await handle.readFile("utf8"), identity: fileIdentity(info) };
  } catch (error) {
    if (error instanceof PoolError) throw error;
    throw ioError("read", path, error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export function serializeDocument(doc: unknown): string {
  // No trailing newline: then no proper prefix of a document is itself valid JSON.
  return JSON.stringify(doc, null, 2);
}

/** fsync the directory so the rename itself survives a power loss. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, fs.constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const SPACE_CODES = new Set(["ENOSPC", "EFBIG", "EDQUOT"]);

/** A failed publish: the rename never happened, so the file still holds its previous revision. */
export function writeError(path: string, error: unknown): PoolError {
  const code = errnoCode(error);
  const why = code !== undefined && SPACE_CODES.has(code) ? ` (the disk is full or a file-size limit was reached)` : "";
  return new PoolError(
    "E_POOL_IO",
    `Could not write ${path}: ${code ?? (error as Error).message}${why}. Nothing was committed; the file still holds its previous revision.`,
    { cause: error, details: { path, errno: code } },
  );
}

/**
 * Temp write, fsync and rename (write-file-atomic), then a directory fsync (ours). write-file-atomic is patched
 * (patches/write-file-atomic@7.0.1.patch) to loop on short writes and check the temp file's size before the
 * rename, so a full disk never publishes a truncated file. See test/store/short-writes.test.ts.
 */
export async function publishDocument(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  try {
    const bytes = typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await writeFileAtomic(path, bytes, {
      mode,
      fsync: true,
      ...(process.getuid && process.getgid ? { chown: { uid: process.getuid(), gid: process.getgid() } } : {}),
    });
  } catch (error) {
    throw writeError(path, error);
  }
  try {
    await fsyncDirectory(dirname(path));
  } catch (error) {
    throw ioError("fsync the directory of", path, error);
  }
}
