// The refresher's bridge to linked files: re-read a borrowed credential's file, and write refreshed pairs back to
// an owned one so the other tool never replays a token credpool has used. See test/refresh/write-back.test.ts.
import { findCredential } from "../pool/index.js";
import {
  createRefresher,
  isSpentRefreshToken,
  refreshLockName,
  sourceLinkOf,
  type Refresher,
  type RefresherOptions,
  type SourceLinks,
} from "../refresh/index.js";
import type { PoolBackend } from "../store/index.js";
import type { Credential } from "../store/schema.js";
import { claudeCodeRefreshToken, patchClaudeCodeFile } from "./claude-code.js";
import { codexRefreshToken, patchCodexFile } from "./codex.js";
import { rewriteSourceFile } from "./source-file.js";
import { syncSources } from "./sync.js";

export interface SourceLinksOptions {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/**
 * Writes `credential`'s pair into its linked file, but only over a refresh token the pool has already used: any
 * other token there is a newer login by the other tool, which the next sync adopts instead. Returns whether the
 * file was written.
 */
export async function writeBackCredential(credential: Credential, now: number = Date.now()): Promise<boolean> {
  const link = sourceLinkOf(credential);
  if (!link || link.ownership !== "own" || !credential.secrets.refreshToken) return false;
  return rewriteSourceFile(link.path, (json) => {
    const inFile = link.kind === "claude-code" ? claudeCodeRefreshToken(json) : codexRefreshToken(json);
    if (!inFile || inFile === credential.secrets.refreshToken || !isSpentRefreshToken(credential, inFile)) return undefined;
    return link.kind === "claude-code" ? patchClaudeCodeFile(json, credential) : patchCodexFile(json, credential, now);
  });
}

/** Redoes a lost write-back, under the credential's refresh lock so it cannot interleave with a refresh. */
export async function repairWriteBack(backend: PoolBackend, credentialId: string, now: () => number = Date.now): Promise<boolean> {
  const lock = await backend.lock(refreshLockName(credentialId));
  try {
    const credential = findCredential((await backend.read()).doc, credentialId);
    return credential ? await writeBackCredential(credential, now()) : false;
  } finally {
    await lock.release();
  }
}

export function createSourceLinks(options: SourceLinksOptions = {}): SourceLinks {
  const now = options.now ?? Date.now;
  return {
    async reload(backend, credential) {
      const link = sourceLinkOf(credential);
      if (!link) return undefined;
      const result = await syncSources(backend, [{ kind: link.kind, path: link.path }], {
        addNew: false,
        now,
        ...(options.env ? { env: options.env } : {}),
      });
      if (result.errors.length > 0 && result.errors[0]) throw result.errors[0];
      return findCredential((await backend.read()).doc, credential.id);
    },
    async writeBack(credential) {
      await writeBackCredential(credential, now());
    },
  };
}

/**
 * The refresher every long-lived process should use: createRefresher() with source links, so borrowed credentials
 * are re-read from their files and owned ones are written back after each refresh.
 * `openPool({ refresher: createLinkedRefresher({ ...config.refresh }).ensureFresh })`.
 */
export function createLinkedRefresher(options: RefresherOptions = {}): Refresher {
  return createRefresher({
    ...options,
    links: options.links ?? createSourceLinks({ ...(options.env ? { env: options.env } : {}), ...(options.now ? { now: options.now } : {}) }),
  });
}
