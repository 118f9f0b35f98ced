// One sync: read every source (no lock held), then apply all of them in ONE update(). Nothing new means no write
// at all, and no lock either. See test/refresh/sync.test.ts.
import { resolve } from "node:path";
import { PoolError, isPoolError } from "../errors.js";
import { sourceLinkOf, type Ownership } from "../refresh/index.js";
import type { PoolBackend } from "../store/index.js";
import type { PoolDocument } from "../store/schema.js";
import { listCredentials } from "../pool/index.js";
import { applyCandidates, isWriteChange, type SyncChange } from "./apply.js";
import { parseClaudeCodeFile, resolveClaudeCodePath } from "./claude-code.js";
import { parseCodexFile, resolveCodexPath } from "./codex.js";
import { readEnvCandidates, resolveEnvMap } from "./env.js";
import { parseHermesFile, resolveHermesPath } from "./hermes.js";
import { readSourceFile } from "./source-file.js";
import type { CredentialCandidate, SourceReading, SourceSpec } from "./types.js";
import { repairWriteBack } from "./write-back.js";

export interface SyncOptions {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Add credentials the pool does not have yet (default true); false only updates linked ones. */
  addNew?: boolean;
  /** Called for problems that do not fail the sync (e.g. a write-back repair that could not run). */
  onEvent?: (event: { event: string; [field: string]: unknown }) => void;
}

export interface SyncResult {
  /** Whether this sync wrote the pool (exactly one commit), or found nothing new (no commit). */
  readonly committed: boolean;
  readonly rev: number;
  readonly changes: readonly SyncChange[];
  readonly readings: readonly SourceReading[];
  /** Sources that could not be read; their credentials were left exactly as they were. */
  readonly errors: readonly PoolError[];
}

/** Claude Code, Codex and the environment: what `credpool sync` and the watcher look at by default. */
export function defaultSourceSpecs(): SourceSpec[] {
  return [{ kind: "claude-code" }, { kind: "codex" }, { kind: "env" }];
}

/** Every file the pool's credentials are linked to (e.g. imported with --from), so those stay in sync too. */
export function linkedSourceSpecs(doc: PoolDocument): SourceSpec[] {
  const specs: SourceSpec[] = [];
  for (const credential of listCredentials(doc)) {
    const link = sourceLinkOf(credential);
    if (link) specs.push({ kind: link.kind, path: link.path });
  }
  return specs;
}

/** The file a spec reads, or undefined for the environment. */
export function sourcePathOf(spec: SourceSpec, env: NodeJS.ProcessEnv = process.env): string | undefined {
  switch (spec.kind) {
    case "claude-code":
      return spec.path ? resolve(spec.path) : resolveClaudeCodePath(env);
    case "codex":
      return spec.path ? resolve(spec.path) : resolveCodexPath(env);
    case "hermes":
      return spec.path ? resolve(spec.path) : resolveHermesPath(env);
    case "env":
      return undefined;
  }
}

function dedupeSpecs(specs: readonly SourceSpec[], env: NodeJS.ProcessEnv): SourceSpec[] {
  const seen = new Map<string, SourceSpec>();
  for (const spec of specs) {
    const key = `${spec.kind}\n${sourcePathOf(spec, env) ?? ""}`;
    const prior = seen.get(key);
    // An explicit ownership (from `import --own|--borrow`) wins over a plain mention of the same file.
    if (!prior || ("ownership" in spec && spec.ownership !== undefined)) seen.set(key, spec);
  }
  return [...seen.values()];
}

function withOwnership(candidates: CredentialCandidate[], ownership: Ownership | undefined): CredentialCandidate[] {
  return ownership === undefined ? candidates : candidates.map((candidate) => ({ ...candidate, ownership }));
}

/** Reads one source. Failures are returned, not thrown, so one broken file never blocks the others. */
export async function readSource(
  spec: SourceSpec,
  options: { env?: NodeJS.ProcessEnv; now?: () => number } = {},
): Promise<SourceReading> {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  if (spec.kind === "env") {
    try {
      const { candidates, skipped } = readEnvCandidates(resolveEnvMap(spec.vars, env), env);
      return { spec, state: "found", candidates, skipped };
    } catch (error) {
      return { spec, state: "error", candidates: [], skipped: [], error: asSourceError(error) };
    }
  }
  const path = sourcePathOf(spec, env) ?? "";
  try {
    const file = await readSourceFile(path);
    if (file === null) return { spec, path, state: "missing", candidates: [], skipped: [] };
    switch (spec.kind) {
      case "claude-code":
        return {
          spec,
          path,
          state: "found",
          candidates: withOwnership(parseClaudeCodeFile(file), spec.ownership),
          skipped: [],
        };
      case "codex":
        return {
          spec,
          path,
          state: "found",
          candidates: withOwnership(parseCodexFile(file), spec.ownership),
          skipped: [],
        };
      case "hermes": {
        const { candidates, skipped } = parseHermesFile(file, now());
        return { spec, path, state: "found", candidates, skipped };
      }
    }
  } catch (error) {
    return { spec, path, state: "error", candidates: [], skipped: [], error: asSourceError(error) };
  }
}

function asSourceError(error: unknown): PoolError {
  if (isPoolError(error)) return error;
  return new PoolError("E_SOURCE", `Could not read a credential source: ${(error as Error).message}`, { cause: error });
}

/**
 * Reads `specs` and applies them all in one transaction. A source that is missing or unreadable changes nothing:
 * credentials are never deleted because a file or variable is absent here.
 */
export async function syncSources(
  backend: PoolBackend,
  specs: readonly SourceSpec[],
  options: SyncOptions = {},
): Promise<SyncResult> {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const readings = await Promise.all(dedupeSpecs(specs, env).map((spec) => readSource(spec, { env, now })));
  const errors = readings.flatMap((reading) => (reading.error ? [reading.error] : []));
  const candidates = readings.flatMap((reading) => reading.candidates);
  const applyOptions = { now: now(), addNew: options.addNew ?? true };

  // Dry run on the committed document first: an unchanged world costs no lock and no write.
  const current = await backend.read();
  let changes = applyCandidates(structuredClone(current.doc), candidates, applyOptions);
  let rev = current.rev;
  let committed = false;
  if (changes.some(isWriteChange)) {
    const doc = await backend.update((draft) => {
      changes = applyCandidates(draft, candidates, applyOptions);
    });
    rev = doc.rev;
    committed = changes.some(isWriteChange);
  }

  // A file still holding a token we rotated past means a write-back was lost (crash after commit): redo it.
  for (const change of changes) {
    if (!change.staleFile || change.credentialId === undefined) continue;
    await repairWriteBack(backend, change.credentialId, now).catch((error: unknown) => {
      options.onEvent?.({
        event: "sources.repair_failed",
        credentialId: change.credentialId,
        error: (error as Error).message,
      });
    });
  }
  return { committed, rev, changes, readings, errors };
}
