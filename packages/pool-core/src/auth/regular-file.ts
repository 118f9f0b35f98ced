// Opens the gate's own files (secret, auth-state.json, the pool's gate record) without ever blocking: a FIFO put in
// place of one of them would otherwise hang every gated command forever (see pool-cli/test/totp-gate-files.test.ts).
import { constants, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { PoolError, errnoCode } from "../errors.js";

function describeKind(info: Stats): string {
  if (info.isFIFO()) return "a FIFO";
  if (info.isDirectory()) return "a directory";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Opens `path` read-only with O_NONBLOCK and refuses anything that is not a regular file with E_TOTP_STATE naming
 * it. Resolves null when the file does not exist; other open errors are thrown as they are, for the caller to word.
 */
export async function openRegularFile(path: string, what: string): Promise<{ handle: FileHandle; info: Stats } | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return null;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      const kind = describeKind(info);
      throw new PoolError(
        "E_TOTP_STATE",
        `${what} ${path} is ${kind}, not a regular file; access is denied until it is replaced by the real file.`,
        {
          details: { path, reason: "not-regular-file" },
        },
      );
    }
    return { handle, info };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The whole text of a regular file, or null when it does not exist. */
export async function readRegularFile(path: string, what: string): Promise<string | null> {
  const opened = await openRegularFile(path, what);
  if (!opened) return null;
  try {
    return await opened.handle.readFile("utf8");
  } finally {
    await opened.handle.close();
  }
}
