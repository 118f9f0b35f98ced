// `credpool import claude-code` on macOS when there is no credentials file: the login comes from the Keychain item.
// It is credpool's to refresh (owned), and each new pair is written back to the item (write-back.ts), so Claude Code
// never replays a refresh token credpool has spent.
import type { PoolBackend } from "../store/index.js";
import { applyCandidates, type SyncChange } from "./apply.js";
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
  await backend.update((doc) => {
    changes = applyCandidates(doc, candidates, { now: options.now ?? Date.now(), addNew: true });
  });
  return { changes, service };
}
