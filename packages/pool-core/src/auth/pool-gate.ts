// The gate record in the pool document: it names the protected directory that holds the gate's state, so every path
// to the same document (a hard link, a symlink, another CREDPOOL_HOME) finds the same gate, and it keeps a copy of
// the spent-guess count so an older auth-state.json cannot hand back guesses (see pool-cli/test/totp-gate-travels.test.ts).
import { PoolError, isPoolError } from "../errors.js";
import type { DocumentStore } from "../store/backend.js";
import { createFileBackend, poolDocumentSpec } from "../store/file-backend.js";
import { poolGateSchema, type PoolGate } from "../store/schema.js";
import { readRegularFile } from "./regular-file.js";

/**
 * The gate record of the pool at `poolPath` (or, with `documents`, of the shared store's pool document); null when
 * there is no pool or it records no gate. A pool that cannot be read denies access (E_TOTP_STATE).
 */
export async function readPoolGate(poolPath: string, documents?: DocumentStore): Promise<PoolGate | null> {
  if (documents) return readSharedPoolGate(documents);
  let text: string | null;
  try {
    text = await readRegularFile(poolPath, "The pool");
  } catch (error) {
    if (isPoolError(error)) throw error;
    throw new PoolError(
      "E_TOTP_STATE",
      `The pool ${poolPath} cannot be read to find its TOTP gate (${(error as Error).message}); access is denied.`,
      {
        cause: error,
        details: { path: poolPath, reason: "pool-unreadable" },
      },
    );
  }
  if (text === null) return null;
  let gate: unknown;
  try {
    gate = (JSON.parse(text) as { gate?: unknown } | null)?.gate;
  } catch (error) {
    throw new PoolError(
      "E_TOTP_STATE",
      `The pool ${poolPath} is not valid JSON, so whether a TOTP gate protects it is unknown; access is denied.`,
      {
        cause: error,
        details: { path: poolPath, reason: "pool-unreadable" },
      },
    );
  }
  if (gate === undefined) return null;
  const parsed = poolGateSchema.safeParse(gate);
  if (!parsed.success) {
    throw new PoolError(
      "E_TOTP_STATE",
      `The pool ${poolPath} has a damaged TOTP gate record ("gate"); access is denied.`,
      {
        details: { path: poolPath, reason: "gate-record-invalid" },
      },
    );
  }
  return parsed.data;
}

/** Sets, changes or (with `undefined`) removes the gate record, under the pool's own lock. No pool file: nothing. */
export async function updatePoolGate(
  poolPath: string,
  change: (current: PoolGate | undefined) => PoolGate | undefined,
  options: { lockTimeoutMs?: number; documents?: DocumentStore | undefined } = {},
): Promise<boolean> {
  if (options.documents) {
    const shared = options.documents.open("pool", poolDocumentSpec);
    const absent = new Error("no pool document");
    try {
      await shared.update((draft) => {
        // Like a missing pool file: nothing to record in, and no pool is created just for the record.
        if (draft.rev === 0) throw absent;
        const next = change(draft.gate);
        if (next === undefined) delete draft.gate;
        else draft.gate = next;
      });
      return true;
    } catch (error) {
      if (error === absent) return false;
      throw error;
    } finally {
      await shared.close();
    }
  }
  const backend = createFileBackend({
    path: poolPath,
    createIfMissing: false,
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
  });
  try {
    await backend.update((draft) => {
      const next = change(draft.gate);
      if (next === undefined) delete draft.gate;
      else draft.gate = next;
    });
    return true;
  } catch (error) {
    if (isPoolError(error, "E_POOL_NOT_FOUND")) return false;
    throw error;
  } finally {
    await backend.close();
  }
}

async function readSharedPoolGate(documents: DocumentStore): Promise<PoolGate | null> {
  const where = `${documents.location} document pool`;
  const backend = documents.open("pool", poolDocumentSpec);
  try {
    const { doc, rev } = await backend.read();
    return rev === 0 ? null : (doc.gate ?? null);
  } catch (error) {
    throw new PoolError(
      "E_TOTP_STATE",
      `The pool ${where} cannot be read to find its TOTP gate (${(error as Error).message}); access is denied.`,
      { cause: error, details: { path: where, reason: "pool-unreadable" } },
    );
  } finally {
    await backend.close();
  }
}
