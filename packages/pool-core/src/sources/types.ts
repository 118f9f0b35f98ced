// The shapes every source reader produces and the sync consumes.
import type { PoolError } from "../errors.js";
import type { Ownership } from "../refresh/index.js";
import type { CredentialSecrets, CredentialStatus } from "../store/schema.js";

export type FileSourceKind = "claude-code" | "codex";
export type SourceKind = FileSourceKind | "hermes" | "env";

export type SourceSpec =
  /** Claude Code's credentials file; `path` defaults to $CLAUDE_CONFIG_DIR or ~/.claude/.credentials.json. */
  | { readonly kind: "claude-code"; readonly path?: string; readonly ownership?: Ownership }
  /** The Codex CLI auth file; `path` defaults to $CODEX_HOME or ~/.codex/auth.json. */
  | { readonly kind: "codex"; readonly path?: string; readonly ownership?: Ownership }
  /** A hermes-agent auth.json credential_pool; import only (never written, never re-synced). */
  | { readonly kind: "hermes"; readonly path?: string }
  /** Environment variables mapped to providers; defaults to ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY. */
  | { readonly kind: "env"; readonly vars?: Readonly<Record<string, string>> };

/** One credential a source offers, before it is matched against the pool. */
export interface CredentialCandidate {
  readonly provider: string;
  readonly kind: "oauth" | "api_key";
  /** "claude-code", "codex", "hermes" or "env:<VAR>". */
  readonly source: string;
  /** The file it mirrors (claude-code and codex only). */
  readonly sourcePath?: string;
  readonly ownership?: Ownership;
  readonly label: string;
  readonly priority?: number;
  readonly baseUrl?: string;
  readonly secrets: CredentialSecrets;
  readonly status?: CredentialStatus;
  readonly requests?: number;
  /** mtime of the file version read, so an older read never overwrites a newer one. */
  readonly sourceMtimeMs?: number;
  /** Extra fields kept on the credential (e.g. `sourceMeta`, `hermesId`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** Why a source entry was not imported. */
export interface SkippedEntry {
  readonly label: string;
  readonly reason: string;
}

export interface SourceReading {
  readonly spec: SourceSpec;
  /** The file read, for file sources. */
  readonly path?: string;
  readonly state: "found" | "missing" | "error";
  readonly candidates: readonly CredentialCandidate[];
  readonly skipped: readonly SkippedEntry[];
  readonly error?: PoolError;
}
