// auth-state.json through the file backend, with every store failure turned into E_TOTP_STATE and an exact repair
// hint: an unreadable attempts file must deny access, never reset the counter.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PoolError, isPoolError } from "../errors.js";
import type { DocumentBackend, DocumentStore, Mutator } from "../store/backend.js";
import { createDocumentFileBackend, type FileBackend } from "../store/file-backend.js";
import { openRegularFile } from "./regular-file.js";
import { AUTH_STATE_FILE_NAME, authStateDocumentSpec, authStateSchema, type AuthStateDocument } from "./auth-state.js";

export interface AuthStoreOptions {
  readonly home: string;
  /** Default: auth-state.json in `home`. */
  readonly statePath?: string;
  readonly lockTimeoutMs?: number;
  readonly staleMs?: number;
  /** A shared store (PostgreSQL): the state is its `auth-state` document, shared by every host, not a file. */
  readonly documents?: DocumentStore;
}

export interface AuthStore {
  /** The file, or the shared store's document, for messages. */
  readonly path: string;
  readonly backupPath: string;
  /** True when the state lives in a shared store rather than a file. */
  readonly shared: boolean;
  /** The committed state, or null when there is no file. */
  read(): Promise<AuthStateDocument | null>;
  /** A transaction on fresh state; `create` allows making the file (setup only). */
  update(fn: Mutator<AuthStateDocument>, options?: { create?: boolean }): Promise<AuthStateDocument>;
  close(): Promise<void>;
}

/** Fencing aborts a transaction without writing it; running it again on fresh state is what the store expects. */
const COMPROMISED_RETRIES = 2;

export function createAuthStore(options: AuthStoreOptions): AuthStore {
  if (options.documents) return createSharedAuthStore(options.documents);
  const path = options.statePath ?? join(options.home, AUTH_STATE_FILE_NAME);
  const backupPath = `${path}.bak`;
  const backendOptions = {
    path,
    backup: true,
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    ...(options.staleMs === undefined ? {} : { staleMs: options.staleMs }),
  };
  // Two views of one file: the gate never creates it (a missing file is broken state), setup may.
  let existing: FileBackend<AuthStateDocument> | undefined;
  let creating: FileBackend<AuthStateDocument> | undefined;
  const backendFor = (create: boolean): FileBackend<AuthStateDocument> => {
    if (create)
      return (creating ??= createDocumentFileBackend(authStateDocumentSpec, {
        ...backendOptions,
        createIfMissing: true,
      }));
    return (existing ??= createDocumentFileBackend(authStateDocumentSpec, {
      ...backendOptions,
      createIfMissing: false,
    }));
  };

  /**
   * How to get back to a good state: the backup when it holds a confirmed setup, else start over. Right after
   * `totp setup --confirm` the backup is the unconfirmed setup, which the gate refuses: pointing at it would lead the
   * user into a state only `reset --force` gets out of.
   */
  async function describeRepair(): Promise<string> {
    let confirmed = false;
    try {
      confirmed = authStateSchema.parse(JSON.parse(await readFile(backupPath, "utf8"))).totp !== undefined;
    } catch {
      // Missing or damaged: not usable.
    }
    if (confirmed) {
      return `Restore the last good copy: cp ${backupPath} ${path}. If that is not what you want, \`credpool totp reset --force\` removes the TOTP secret and state so you can run \`credpool totp setup\` again.`;
    }
    return `There is no usable backup (${backupPath} is missing, damaged or from before the setup was confirmed); \`credpool totp reset --force\` removes the TOTP secret and state so you can run \`credpool totp setup\` again.`;
  }

  async function wrap(error: unknown, doing: string): Promise<PoolError> {
    if (isPoolError(error) && error.code.startsWith("E_TOTP_")) return error;
    const detail = (error instanceof Error ? error.message : String(error))
      // The store's own hints name pool commands; ours follow below.
      .replace(/;? ?[Rr]un `credpool (doctor --restore|init)`[^.]*\./g, "")
      .replace("the pool schema", "the auth state schema")
      .replace(/\.?\s*$/, ".");
    if (isPoolError(error, "E_LOCK_TIMEOUT")) {
      return new PoolError(
        "E_TOTP_STATE",
        `Could not ${doing} ${path}: another process held its lock too long (${detail}); access is denied. Try again; if it persists, \`credpool doctor\` shows the lock.`,
        {
          cause: error,
          details: { path, reason: "state-locked" },
        },
      );
    }
    return new PoolError(
      "E_TOTP_STATE",
      `Could not ${doing} TOTP state ${path}: ${detail} Access is denied until it is repaired. ${await describeRepair()}`,
      {
        cause: error,
        details: { path, reason: "state-unreadable" },
      },
    );
  }

  /** The store reads with a blocking open; a FIFO here would hang it, so the file is checked first without blocking. */
  async function refuseIfNotRegular(): Promise<void> {
    const opened = await openRegularFile(path, "TOTP state").catch((error: unknown) => {
      if (isPoolError(error)) throw error;
      return null;
    });
    await opened?.handle.close();
  }

  return {
    path,
    backupPath,
    shared: false,
    async read() {
      await refuseIfNotRegular();
      try {
        return (await backendFor(false).read()).doc;
      } catch (error) {
        if (isPoolError(error, "E_POOL_NOT_FOUND")) return null;
        throw await wrap(error, "read");
      }
    },
    async update(fn, updateOptions = {}) {
      await refuseIfNotRegular();
      const backend = backendFor(updateOptions.create === true);
      for (let attempt = 0; ; attempt++) {
        try {
          return await backend.update(fn);
        } catch (error) {
          if (isPoolError(error, "E_LOCK_COMPROMISED") && attempt < COMPROMISED_RETRIES) continue;
          if (isPoolError(error, "E_POOL_NOT_FOUND")) {
            throw new PoolError(
              "E_TOTP_STATE",
              `TOTP state ${path} disappeared while recording an attempt; access is denied. ${await describeRepair()}`,
              {
                cause: error,
                details: { path, reason: "state-missing" },
              },
            );
          }
          throw await wrap(error, "update");
        }
      }
    },
    async close() {
      await Promise.all([existing?.close(), creating?.close()]);
    },
  };
}

/**
 * The state as a document of a shared store: one counter for every host, so a wrong code on one host counts on all.
 * A document never written (rev 0) is "no state", as a missing file is; any store failure denies access.
 */
function createSharedAuthStore(documents: DocumentStore): AuthStore {
  const path = `${documents.location} document auth-state`;
  let backend: DocumentBackend<AuthStateDocument> | undefined;
  const open = (): DocumentBackend<AuthStateDocument> =>
    (backend ??= documents.open("auth-state", authStateDocumentSpec));
  const repair =
    "Access is denied until it is repaired: `credpool doctor` checks the store; `credpool totp reset --force` removes the TOTP state so you can run `credpool totp setup` again.";

  function wrap(error: unknown, doing: string): PoolError {
    if (isPoolError(error) && error.code.startsWith("E_TOTP_")) return error;
    const detail = (error instanceof Error ? error.message : String(error)).replace(/\.?\s*$/, ".");
    return new PoolError("E_TOTP_STATE", `Could not ${doing} TOTP state ${path}: ${detail} ${repair}`, {
      cause: error,
      details: { path, reason: "state-unreadable" },
    });
  }

  return {
    path,
    backupPath: path,
    shared: true,
    async read() {
      try {
        const { doc, rev } = await open().read();
        return rev === 0 ? null : doc;
      } catch (error) {
        throw wrap(error, "read");
      }
    },
    async update(fn, updateOptions = {}) {
      const create = updateOptions.create === true;
      try {
        return await open().update((draft) => {
          // Only setup may start the state; for the gate a missing document is broken state, never a fresh count.
          if (!create && draft.rev === 0) {
            throw new PoolError(
              "E_TOTP_STATE",
              `TOTP state ${path} disappeared while recording an attempt; access is denied. ${repair}`,
              { details: { path, reason: "state-missing" } },
            );
          }
          return fn(draft);
        });
      } catch (error) {
        throw wrap(error, "update");
      }
    },
    async close() {
      await backend?.close();
    },
  };
}
