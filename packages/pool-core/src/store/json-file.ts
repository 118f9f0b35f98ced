// Reading and publishing one JSON document file: strict parse with positions, rename-only writes, dir fsync.
import fs from "node:fs";
import { open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import writeFileAtomic from "write-file-atomic";
import type { z } from "zod";
import { PoolError, errnoCode, fromZodError, ioError } from "../errors.js";

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

/** Reads the file; `null` only when it does not exist. Any other failure is an error, never "empty". */
export async function readDocumentText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return null;
    throw ioError("read", path, error);
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

/** Temp write, fsync and rename (write-file-atomic), then a directory fsync (ours). */
export async function publishDocument(path: string, text: string, mode: number): Promise<void> {
  try {
    await writeFileAtomic(path, text, {
      mode,
      fsync: true,
      ...(process.getuid && process.getgid ? { chown: { uid: process.getuid(), gid: process.getgid() } } : {}),
    });
  } catch (error) {
    throw ioError("write", path, error);
  }
  try {
    await fsyncDirectory(dirname(path));
  } catch (error) {
    throw ioError("fsync the directory of", path, error);
  }
}
