// `credpool import claude-code` on macOS when there is no credentials file: the login comes from the Keychain item.
// It is credpool's to refresh (owned), and each new pair is written back to the item (write-back.ts), so Claude Code
// never replays a refresh token credpool has spent.
import { isClearedByNewTokens, isSpentRefreshToken, rememberUsedToken, updateRefreshState } from "../refresh/index.js";
import type { PoolBackend } from "../store/index.js";
import type { Credential, PoolDocument } from "../store/schema.js";
import { applyCandidates, type SyncChange } from "./apply.js";
import type { CredentialCandidate } from "./types.js";
import { parseClaudeCodeFile } from "./claude-code.js";
import { CLAUDE_CODE_KEYCHAIN_SERVICE, readClaudeCodeKeychain, type KeychainOptions } from "./keychain.js";

export interface KeychainImport {
  readonly changes: readonly SyncChange[];
  readonly service: string;
}

/** Undefined when the item does not exist (or this is not macOS); E_SOURCE when access is refused. */
export async function importClaudeCodeKeychain(
  backend: PoolBackend,
  options: KeychainOptions & { readonly now?: number } = {},
): Promise<KeychainImport | undefined> {
  const service = options.service ?? CLAUDE_CODE_KEYCHAIN_SERVICE;
  const json = await readClaudeCodeKeychain(options);
  if (json === undefined) return undefined;
  const where = `the macOS Keychain item "${service}"`;
  const candidates = parseClaudeCodeFile({ path: where, json, text: "", mtimeMs: 0 }).map((candidate) => {
    const { sourcePath: _path, sourceMtimeMs: _mtime, ...rest } = candidate;
    return { ...rest, extra: { ...candidate.extra, keychainService: service } };
  });
  let changes: SyncChange[] = [];
  const now = options.now ?? Date.now();
  await backend.update((doc) => {
    const existing = findImported(doc, service);
    changes =
      existing && candidates[0]
        ? [updateImported(existing, candidates[0], now)]
        : applyCandidates(doc, candidates, { now, addNew: true });
  });
  return { changes, service };
}

function findImported(doc: PoolDocument, service: string): Credential | undefined {
  return (doc.providers.anthropic?.credentials ?? []).find((credential) => credential.keychainService === service);
}

/** Importing again after a re-login in Claude Code: the item's new pair replaces the old one in place. */
function updateImported(credential: Credential, candidate: CredentialCandidate, now: number): SyncChange {
  const base = {
    source: candidate.source,
    provider: credential.provider,
    label: credential.label,
    credentialId: credential.id,
  };
  const offered = candidate.secrets;
  if (
    offered.refreshToken === credential.secrets.refreshToken &&
    offered.accessToken === credential.secrets.accessToken
  )
    return { ...base, action: "unchanged" };
  // The item still holds a token credpool has used: a write-back was lost; credpool's pair is the newer one.
  if (isSpentRefreshToken(credential, offered.refreshToken))
    return { ...base, action: "skipped", reason: "the item holds a refresh token the pool has already used" };
  const previous = credential.secrets.refreshToken;
  credential.secrets = { ...credential.secrets, ...offered };
  if (offered.expiresAt === undefined) delete credential.secrets.expiresAt;
  credential.tokenGeneration += 1;
  if (isClearedByNewTokens(credential.status)) {
    credential.status = { state: "ok", since: now };
    credential.statusClearedAt = now;
  }
  updateRefreshState(credential, (state) => {
    if (previous && previous !== offered.refreshToken) rememberUsedToken(state, previous);
    for (const key of ["backoffUntil", "strikes", "lastError", "unknownTokenFp", "rejectedTokenFp"]) delete state[key];
  });
  return { ...base, action: "updated", reason: "new tokens" };
}
