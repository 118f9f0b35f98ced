// External credential sources: Claude Code and Codex files (borrowed or owned, with write-back), hermes import,
// environment variables; one-commit sync and file watching.
export { applyCandidates, isWriteChange, type ApplyOptions, type SyncChange } from "./apply.js";
export { parseClaudeCodeFile, resolveClaudeCodePath } from "./claude-code.js";
export { parseCodexFile, resolveCodexPath } from "./codex.js";
export {
  CLAUDE_CODE_KEYCHAIN_SERVICE,
  readClaudeCodeKeychain,
  runCommand,
  usesKeychain,
  writeClaudeCodeKeychain,
  type CommandResult,
  type CommandRunner,
  type KeychainOptions,
} from "./keychain.js";
export { importClaudeCodeKeychain, type KeychainImport } from "./keychain-import.js";
export { DEFAULT_ENV_VARS, readEnvCandidates, resolveEnvMap } from "./env.js";
export { parseHermesFile, resolveHermesPath } from "./hermes.js";
export { createLinkedRefresher, createSourceLinks, type SourceLinksOptions } from "./links.js";
export { readSourceFile, rewriteSourceFile, type SourceFile } from "./source-file.js";
export {
  defaultSourceSpecs,
  linkedSourceSpecs,
  readSource,
  sourcePathOf,
  syncSources,
  type SyncOptions,
  type SyncResult,
} from "./sync.js";
export type {
  CredentialCandidate,
  FileSourceKind,
  SkippedEntry,
  SourceKind,
  SourceReading,
  SourceSpec,
} from "./types.js";
export { watchLinkedSources, watchSources, type SourceWatcher, type WatchSourcesOptions } from "./watch.js";
export { repairWriteBack, writeBackCredential } from "./write-back.js";
