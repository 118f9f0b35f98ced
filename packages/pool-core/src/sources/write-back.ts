// Writing refreshed pairs back to an owned linked file, so the other tool never replays a token credpool has used.
// sync.ts repairs lost write-backs and links.ts writes after each refresh; both depend on this module, not on each
// other. See test/refresh/write-back.test.ts.
import { findCredential } from "../pool/index.js";
import { isSpentRefreshToken, ownershipOf, refreshLockName, sourceLinkOf } from "../refresh/index.js";
import type { PoolBackend } from "../store/index.js";
import type { Credential } from "../store/schema.js";
import { claudeCodeRefreshToken, patchClaudeCodeFile } from "./claude-code.js";
import { codexRefreshToken, patchCodexFile } from "./codex.js";
import { readClaudeCodeKeychain, usesKeychain, writeClaudeCodeKeychain, type KeychainOptions } from "./keychain.js";
import { rewriteSourceFile } from "./source-file.js";

/**
 * Writes `credential`'s pair into its linked file, but only over a refresh token the pool has already used: any
 * other token there is a newer login by the other tool, which the next sync adopts instead. Returns whether the
 * file was written.
 */
export async function writeBackCredential(
  credential: Credential,
  now: number = Date.now(),
  keychain: KeychainOptions = {},
): Promise<boolean> {
  if (typeof credential.keychainService === "string") return writeBackKeychain(credential, keychain);
  const link = sourceLinkOf(credential);
  if (!link || link.ownership !== "own" || !credential.secrets.refreshToken) return false;
  return rewriteSourceFile(link.path, (json) => {
    const inFile = link.kind === "claude-code" ? claudeCodeRefreshToken(json) : codexRefreshToken(json);
    if (!inFile || inFile === credential.secrets.refreshToken || !isSpentRefreshToken(credential, inFile))
      return undefined;
    return link.kind === "claude-code" ? patchClaudeCodeFile(json, credential) : patchCodexFile(json, credential, now);
  });
}

/** The same rule for a login imported from Claude Code's macOS Keychain item. */
async function writeBackKeychain(credential: Credential, options: KeychainOptions): Promise<boolean> {
  const refreshToken = credential.secrets.refreshToken;
  if (!refreshToken || ownershipOf(credential) !== "own" || !usesKeychain(options.platform)) return false;
  const keychain = { ...options, service: String(credential.keychainService) };
  const json = await readClaudeCodeKeychain(keychain);
  if (json === undefined) return false;
  const inItem = claudeCodeRefreshToken(json);
  if (!inItem || inItem === refreshToken || !isSpentRefreshToken(credential, inItem)) return false;
  await writeClaudeCodeKeychain(patchClaudeCodeFile(json, credential), keychain);
  return true;
}

/** Redoes a lost write-back, under the credential's refresh lock so it cannot interleave with a refresh. */
export async function repairWriteBack(
  backend: PoolBackend,
  credentialId: string,
  now: () => number = Date.now,
): Promise<boolean> {
  const lock = await backend.lock(refreshLockName(credentialId));
  try {
    const credential = findCredential((await backend.read()).doc, credentialId);
    return credential ? await writeBackCredential(credential, now()) : false;
  } finally {
    await lock.release();
  }
}
