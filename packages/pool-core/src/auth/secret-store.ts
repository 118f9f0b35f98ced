// Where the TOTP secret lives: a 0600 file that is ours, or a secret command. Any doubt about it is E_TOTP_STATE,
// never "not configured" (failure 7: failing open).
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, link, mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { TotpSecretSource } from "../config/load-config.js";
import { PoolError, errnoCode, ioError } from "../errors.js";
import { fsyncDirectory } from "../store/json-file.js";
import { runSecretCommand } from "./secret-command.js";
import { parseBase32Secret } from "./verifier.js";

export type SecretReadResult = { readonly status: "absent" } | { readonly status: "ok"; readonly secret: string };

const MAX_SECRET_FILE_BYTES = 1024;

function stateError(path: string, problem: string, repair: string, reason: string, cause?: unknown): PoolError {
  return new PoolError(
    "E_TOTP_STATE",
    `TOTP secret file ${path} ${problem}; access is denied until this is fixed. ${repair}`,
    {
      ...(cause === undefined ? {} : { cause }),
      details: { path, reason },
    },
  );
}

/** Reads the secret file, checking the opened file itself so a swap between check and read cannot fool us. */
export async function readSecretFile(path: string): Promise<SecretReadResult> {
  let handle;
  try {
    // O_NONBLOCK: a FIFO in the secret's place must be refused below, not hang the process waiting for a writer.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") return { status: "absent" };
    if (code === "EACCES") {
      throw stateError(
        path,
        "cannot be read (permission denied)",
        `If another user owns it on purpose, set totp.secretCommand (e.g. ["sudo", "-n", "cat", "${path}"]) instead; otherwise fix: chown $(id -u) ${path} && chmod 600 ${path}`,
        "secret-unreadable",
        error,
      );
    }
    throw stateError(
      path,
      `cannot be opened (${code ?? "unknown error"})`,
      "Check the path; `credpool totp status` shows which one is used.",
      "secret-unreadable",
      error,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw stateError(
        path,
        `is ${info.isFIFO() ? "a FIFO" : info.isDirectory() ? "a directory" : "not a regular file"}, not a regular file`,
        `Remove it and run \`credpool totp setup\`, or point totp.secretFile at the secret.`,
        "secret-not-file",
      );
    }
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) {
      throw stateError(
        path,
        `belongs to uid ${info.uid}, not to you (uid ${uid})`,
        `Fix: chown $(id -u) ${path} && chmod 600 ${path}, or, to keep it another user's, set totp.secretCommand to read it.`,
        "secret-owner",
      );
    }
    if ((info.mode & 0o077) !== 0) {
      throw stateError(
        path,
        `has mode ${(info.mode & 0o777).toString(8).padStart(3, "0")}, so group or others can use it`,
        `Fix: chmod 600 ${path}. Others may have read it, so consider a new secret: \`credpool totp reset\` then \`credpool totp setup\`.`,
        "secret-mode",
      );
    }
    if (info.size > MAX_SECRET_FILE_BYTES) {
      throw stateError(
        path,
        `is ${info.size} bytes, too large to be a TOTP secret`,
        "Point totp.secretFile at the secret written by `credpool totp setup`.",
        "secret-invalid",
      );
    }
    const text = await handle.readFile("utf8");
    const parsed = parseBase32Secret(text);
    if (!parsed.ok) {
      throw stateError(
        path,
        `is not a usable secret: ${parsed.problem}`,
        `Restore it from your backup; if it is lost, \`credpool totp reset --force\` then \`credpool totp setup\`.`,
        "secret-invalid",
      );
    }
    return { status: "ok", secret: parsed.secret };
  } catch (error) {
    if (error instanceof PoolError) throw error;
    throw stateError(
      path,
      `could not be read (${errnoCode(error) ?? "unknown error"})`,
      "Check the disk and the file's permissions.",
      "secret-unreadable",
      error,
    );
  } finally {
    await handle.close();
  }
}

/** Reads the secret from wherever the configuration says it lives. A command never reports "absent". */
export async function readTotpSecret(source: TotpSecretSource): Promise<SecretReadResult> {
  if (source.kind === "file") return readSecretFile(source.path);
  const output = await runSecretCommand(source.argv, source.timeoutMs);
  const parsed = parseBase32Secret(output);
  if (!parsed.ok) {
    throw new PoolError(
      "E_TOTP_STATE",
      `TOTP secret command \`${source.argv.join(" ")}\` succeeded but its output is not a usable secret: ${parsed.problem}. Access is denied until this is fixed. It must print only the base32 secret written during \`credpool totp setup\`.`,
      { details: { reason: "secret-invalid" } },
    );
  }
  return { status: "ok", secret: parsed.secret };
}

/** A short, one-way tag of the secret kept in auth-state.json, so a swapped secret fails closed instead of working. */
export function fingerprintSecret(secret: string): string {
  return createHash("sha256").update(`credpool-totp-fingerprint:${secret}`).digest("hex").slice(0, 16);
}

async function writeTemp(path: string, secret: string): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const handle = await open(temp, "wx", 0o600);
  try {
    // The umask cannot widen 0600, but an odd filesystem default can; set it explicitly.
    await handle.chmod(0o600);
    await handle.writeFile(`${secret}\n`, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

/**
 * Writes the secret with mode 0600, whole or not at all. `exclusive` refuses to replace an existing file (a second
 * setup must never swap the secret under a configured gate); otherwise the file is replaced by rename.
 */
export async function writeSecretFile(path: string, secret: string, options: { exclusive: boolean }): Promise<void> {
  let temp: string;
  try {
    temp = await writeTemp(path, secret);
  } catch (error) {
    throw ioError("write", path, error);
  }
  try {
    if (options.exclusive) {
      // link() fails with EEXIST instead of replacing, and publishes the complete file in one step.
      await link(temp, path);
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
    await chmod(path, 0o600);
    await fsyncDirectory(dirname(path));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    if (errnoCode(error) === "EEXIST") {
      throw new PoolError(
        "E_CONFLICT",
        `${path} already exists; TOTP is already set up. Run \`credpool totp reset\` first.`,
        { cause: error },
      );
    }
    throw ioError("write", path, error);
  }
}

/** Removes a file if it is there. */
export async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw ioError("remove", path, error);
  }
}
