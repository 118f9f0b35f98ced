// Read-only checks of a pool's files: modes and owners, the lock, schema validity, the backup, temp files left by
// a crashed writer, and the external source files credentials mirror. Each finding says how to fix it.
import { constants } from "node:fs";
import { access, lstat, readdir, readFile, readlink, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { errnoCode, isPoolError } from "../errors.js";
import { reloginAdvice, sourceLinkOf } from "../refresh/index.js";
import { parseDocument, readDocumentText } from "../store/json-file.js";
import { poolDocumentSchema, type PoolDocument } from "../store/schema.js";
import { formatAge, isLeftoverTempName, octal, poolFilesOf } from "./shared.js";

export type FindingSeverity = "ok" | "warning" | "error";

export interface DoctorFinding {
  /** A stable name: pool-dir, pool-file, schema, backup, lock, named-locks, temp-files, source, config, totp. */
  readonly check: string;
  readonly severity: FindingSeverity;
  readonly message: string;
  /** What to do about it; absent when nothing needs doing. */
  readonly fix?: string;
  /** `repairPool({ fix: true })` (or `restore` for the schema) can do it. */
  readonly fixable?: boolean;
}

export interface InspectPoolOptions {
  readonly path: string;
  /** The lock age after which the file backend breaks a lock; default 5000, as the backend's. */
  readonly staleMs?: number;
  readonly now?: number;
  /** The pool file may be a symlink (`--allow-symlink`): reported as a warning instead of an error. */
  readonly allowSymlink?: boolean;
}

const DEFAULT_STALE_MS = 5000;

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** Best effort, Linux only: credpool processes that could be holding the lock. Only pid and subcommand are shown. */
async function findCredpoolProcesses(): Promise<string[]> {
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const args = cmdline.split("\0");
    const at = args.findIndex((arg) => /^credpool(\.mjs)?$/.test(basename(arg)));
    if (at >= 0) found.push(`pid ${pid} (credpool ${args[at + 1] ?? ""})`.replace(" )", ")"));
    else if (args.some((arg) => arg.endsWith("pool-gateway/dist/main.js"))) found.push(`pid ${pid} (credpool gateway)`);
    if (found.length >= 5) break;
  }
  return found;
}

async function inspectLock(lockPath: string, staleMs: number, now: number): Promise<DoctorFinding> {
  const info = await statOrUndefined(lockPath);
  if (!info) return { check: "lock", severity: "ok", message: "not locked" };
  const heldSince = info.birthtimeMs > 0 ? info.birthtimeMs : info.mtimeMs;
  const refreshedAgo = now - info.mtimeMs;
  const heldFor = formatAge(now - heldSince);
  if (refreshedAgo > staleMs) {
    return {
      check: "lock",
      severity: "warning",
      message: `${lockPath} is stale: taken ${heldFor} ago and not refreshed for ${formatAge(refreshedAgo)}, so its holder is gone.`,
      fix: "The next writer breaks it by itself; `credpool doctor --fix` removes it now.",
      fixable: true,
    };
  }
  const holders = await findCredpoolProcesses();
  const who = holders.length > 0 ? `; running credpool processes: ${holders.join(", ")}` : "";
  const long = now - heldSince > 2 * staleMs;
  return {
    check: "lock",
    severity: long ? "warning" : "ok",
    message: `${lockPath} is held by a live process for ${heldFor} (refreshed ${formatAge(refreshedAgo)} ago)${who}.`,
    ...(long ? { fix: "A writer should hold it for milliseconds; if that process is stuck, stop it." } : {}),
  };
}

async function inspectNamedLocks(dir: string, staleMs: number, now: number): Promise<DoctorFinding | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const stale: string[] = [];
  for (const name of names.filter((entry) => entry.endsWith(".lock"))) {
    const info = await statOrUndefined(join(dir, name));
    if (info && now - info.mtimeMs > staleMs) stale.push(name.replace(/\.lock$/, "").replace(/_/g, ":"));
  }
  if (stale.length === 0) return undefined;
  return {
    check: "named-locks",
    severity: "warning",
    message: `Stale named locks (a process died holding them): ${stale.join(", ")}.`,
    fix: "They are broken automatically when next needed; `credpool doctor --fix` removes them now.",
    fixable: true,
  };
}

function modeFinding(
  check: string,
  path: string,
  mode: number,
  wanted: number,
  what: string,
  severity: FindingSeverity,
): DoctorFinding {
  if ((mode & 0o077) === 0) return { check, severity: "ok", message: `${path} has mode ${octal(mode)}` };
  return {
    check,
    severity,
    message: `${path} has mode ${octal(mode)}: ${what}.`,
    fix: `chmod ${wanted.toString(8)} ${path} (or \`credpool doctor --fix\`)`,
    fixable: true,
  };
}

async function parseFile(path: string): Promise<{ doc?: PoolDocument; error?: string; missing: boolean }> {
  try {
    const text = await readDocumentText(path);
    if (text === null) return { missing: true };
    return { doc: parseDocument(path, text, poolDocumentSchema), missing: false };
  } catch (error) {
    return { error: isPoolError(error) ? error.message : String(error), missing: false };
  }
}

export async function inspectPool(options: InspectPoolOptions): Promise<DoctorFinding[]> {
  const files = poolFilesOf(options.path);
  const now = options.now ?? Date.now();
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const uid = process.getuid?.();
  const findings: DoctorFinding[] = [];

  const dirInfo = await statOrUndefined(files.dir);
  if (!dirInfo) {
    findings.push({
      check: "pool-dir",
      severity: "error",
      message: `There is no pool directory ${files.dir}.`,
      fix: "Run `credpool init` (or pass --pool / set CREDPOOL_HOME to where your pool is).",
    });
    return findings;
  }
  findings.push(
    modeFinding(
      "pool-dir",
      files.dir,
      dirInfo.mode,
      0o700,
      "other users can list it and see lock and temp files",
      "warning",
    ),
  );
  if (uid !== undefined && dirInfo.uid !== uid) {
    findings.push({
      check: "pool-dir",
      severity: "warning",
      message: `${files.dir} belongs to uid ${dirInfo.uid}, not to you (uid ${uid}).`,
      fix: `chown ${uid} ${files.dir}`,
    });
  }

  const link = await lstat(files.path).catch(() => undefined);
  if (link?.isSymbolicLink()) {
    // Commands refuse it (see readDocumentText); a rename-based write would land in the target, outside this directory.
    const target = await readlink(files.path)
      .then((to) => resolve(dirname(files.path), to))
      .catch(() => "an unreadable target");
    findings.push({
      check: "pool-file",
      severity: options.allowSymlink === true ? "warning" : "error",
      message: `${files.path} is a symbolic link to ${target}: every write goes into that file, outside ${files.dir}${
        options.allowSymlink === true ? " (allowed by --allow-symlink)" : ", so credpool refuses it"
      }.`,
      fix: `Move the file itself into place (mv ${target} ${files.path}), or point --pool at ${target}.`,
    });
  }
  const fileInfo = await statOrUndefined(files.path);
  const backup = await parseFile(files.backupPath);
  if (!fileInfo) {
    findings.push({
      check: "pool-file",
      severity: "error",
      message: `There is no pool file ${files.path}.`,
      fix: backup.doc
        ? `Its backup is valid (rev ${backup.doc.rev}): run \`credpool doctor --restore\`.`
        : "Run `credpool init`.",
      fixable: backup.doc !== undefined,
    });
  } else {
    findings.push(
      modeFinding("pool-file", files.path, fileInfo.mode, 0o600, "other users can read the secrets in it", "error"),
    );
    if (uid !== undefined && fileInfo.uid !== uid) {
      findings.push({
        check: "pool-file",
        severity: "warning",
        message: `${files.path} belongs to uid ${fileInfo.uid}, not to you (uid ${uid}).`,
        fix: `Run credpool as that user, or chown ${uid} ${files.path}.`,
      });
    }
    const current = await parseFile(files.path);
    if (current.doc) {
      const count = Object.values(current.doc.providers).reduce(
        (sum, provider) => sum + provider.credentials.length,
        0,
      );
      findings.push({
        check: "schema",
        severity: "ok",
        message: `valid: schemaVersion ${current.doc.schemaVersion}, rev ${current.doc.rev}, ${count} credential${count === 1 ? "" : "s"}`,
      });
    } else {
      findings.push({
        check: "schema",
        severity: "error",
        message: current.error ?? `${files.path} could not be read.`,
        fix: backup.doc
          ? `Restore the last good copy (rev ${backup.doc.rev}) with \`credpool doctor --restore\`; the damaged file is kept beside it.`
          : "There is no valid backup: repair the JSON by hand. credpool never overwrites a file it cannot read.",
        fixable: backup.doc !== undefined,
      });
    }
  }

  if (backup.missing) {
    findings.push({
      check: "backup",
      severity: "ok",
      message: `no backup yet (${files.backupPath} is written on the next change)`,
    });
  } else if (backup.doc) {
    findings.push({ check: "backup", severity: "ok", message: `${files.backupPath} is valid (rev ${backup.doc.rev})` });
  } else {
    findings.push({
      check: "backup",
      severity: "warning",
      message: `The backup is unusable: ${backup.error ?? "unreadable"}`,
      fix: "It is replaced by the next successful change; until then `--restore` has nothing to restore.",
    });
  }

  findings.push(await inspectLock(files.lockPath, staleMs, now));
  const named = await inspectNamedLocks(files.namedLockDir, staleMs, now);
  if (named) findings.push(named);

  const leftovers = (await readdir(files.dir).catch(() => [] as string[])).filter((name) =>
    isLeftoverTempName(files.fileName, name),
  );
  findings.push(
    leftovers.length === 0
      ? { check: "temp-files", severity: "ok", message: "no leftover temp files" }
      : {
          check: "temp-files",
          severity: "warning",
          message: `${leftovers.length} temp file${leftovers.length === 1 ? "" : "s"} left by a crashed writer: ${leftovers.join(", ")}.`,
          fix: "The next writer removes them; `credpool doctor --fix` removes them now (under the lock).",
          fixable: true,
        },
  );

  const current = fileInfo ? await parseFile(files.path) : undefined;
  for (const provider of Object.values(current?.doc?.providers ?? {})) {
    for (const credential of provider.credentials) {
      const link = sourceLinkOf(credential);
      if (!link) continue;
      const where = `${credential.provider}/${credential.label} (${link.kind}, ${link.ownership})`;
      // An owned credential is written back after each refresh, so its file must be writable too.
      const mode = link.ownership === "own" ? constants.R_OK | constants.W_OK : constants.R_OK;
      try {
        await access(link.path, mode);
        findings.push({
          check: "source",
          severity: "ok",
          message: `${where}: ${link.path} is ${link.ownership === "own" ? "writable" : "readable"}`,
        });
      } catch (error) {
        findings.push({
          check: "source",
          severity: "warning",
          message: `${where}: cannot ${link.ownership === "own" ? "write" : "read"} ${link.path} (${errnoCode(error) ?? "error"}); ${
            link.ownership === "own"
              ? "rotated tokens cannot be written back"
              : "new logins in that tool are not picked up"
          }.`,
          fix: `${reloginAdvice(credential)} Or fix the file's permissions.`,
        });
      }
    }
  }
  return findings;
}
