// Applies what the sources offer to a pool document, inside one transaction. Pure and deterministic apart from new
// ids, so a dry run on a copy tells whether the real transaction would write anything.
import { findCredential, listCredentials } from "../pool/index.js";
import { isClearedByNewTokens, isSpentRefreshToken, rememberUsedToken, updateRefreshState } from "../refresh/index.js";
import type { Credential, CredentialSecrets, PoolDocument } from "../store/schema.js";
import { randomId } from "../ids.js";
import type { CredentialCandidate } from "./types.js";

export interface SyncChange {
  readonly action: "added" | "updated" | "unchanged" | "skipped";
  readonly source: string;
  readonly provider: string;
  readonly label: string;
  readonly credentialId?: string;
  readonly reason?: string;
  /** The linked file still holds a refresh token the pool has already used (a write-back was lost). */
  readonly staleFile?: boolean;
}

export interface ApplyOptions {
  readonly now: number;
  /** Add credentials the pool does not have yet; false only refreshes the ones already linked. */
  readonly addNew: boolean;
}

const SECRET_KEYS = ["apiKey", "accessToken", "refreshToken", "expiresAt", "idToken", "accountId"] as const;

function sameSecret(credential: Credential, candidate: CredentialCandidate): boolean {
  if (credential.provider !== candidate.provider) return false;
  const mine = credential.secrets;
  const theirs = candidate.secrets;
  if (candidate.kind === "api_key") return Boolean(theirs.apiKey) && mine.apiKey === theirs.apiKey;
  return (
    (Boolean(theirs.refreshToken) && mine.refreshToken === theirs.refreshToken) ||
    (Boolean(theirs.accessToken) && mine.accessToken === theirs.accessToken)
  );
}

function secretsMatch(current: CredentialSecrets, offered: CredentialSecrets): boolean {
  return SECRET_KEYS.every((key) => offered[key] === undefined || current[key] === offered[key]);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function uniqueLabel(doc: PoolDocument, provider: string, wanted: string): string {
  const taken = new Set(
    (doc.providers[provider]?.credentials ?? []).map((credential) => credential.label.toLowerCase()),
  );
  if (!taken.has(wanted.toLowerCase())) return wanted;
  for (let n = 2; ; n++) {
    const label = `${wanted.slice(0, 60)}-${n}`;
    if (!taken.has(label.toLowerCase())) return label;
  }
}

function addCredential(doc: PoolDocument, candidate: CredentialCandidate, now: number): Credential {
  const pool = (doc.providers[candidate.provider] ??= { credentials: [] });
  const ids = new Set(listCredentials(doc).map((credential) => credential.id));
  let id = randomId(8);
  while (ids.has(id)) id = randomId(8);
  const priority =
    candidate.priority ?? pool.credentials.reduce((max, credential) => Math.max(max, credential.priority + 1), 0);
  const credential: Credential = {
    ...(candidate.extra ?? {}),
    id,
    label: uniqueLabel(doc, candidate.provider, candidate.label),
    provider: candidate.provider,
    kind: candidate.kind,
    priority,
    source: candidate.source,
    ...(candidate.sourcePath ? { sourcePath: candidate.sourcePath, ownership: candidate.ownership ?? "borrow" } : {}),
    ...(candidate.sourceMtimeMs !== undefined ? { sourceMtimeMs: candidate.sourceMtimeMs } : {}),
    ...(candidate.baseUrl ? { baseUrl: candidate.baseUrl } : {}),
    secrets: { ...candidate.secrets },
    tokenGeneration: 0,
    status: candidate.status ?? { state: "ok" },
    usage: { requests: candidate.requests ?? 0, failures: 0 },
    createdAt: now,
  };
  pool.credentials.push(credential);
  return credential;
}

/** A linked credential meets a fresh read of its file. */
function updateLinked(linked: Credential, candidate: CredentialCandidate, now: number): SyncChange {
  const base = { source: candidate.source, provider: linked.provider, label: linked.label, credentialId: linked.id };
  let touched = false;
  let reason = "source details";
  if (candidate.ownership && candidate.ownership !== linked.ownership) {
    linked.ownership = candidate.ownership;
    touched = true;
    reason = `now ${candidate.ownership === "own" ? "owned" : "borrowed"}`;
  }
  const meta = candidate.extra?.sourceMeta;
  if (meta !== undefined && !sameJson(meta, linked.sourceMeta)) {
    linked.sourceMeta = meta;
    touched = true;
  }
  if (secretsMatch(linked.secrets, candidate.secrets)) {
    return touched ? { ...base, action: "updated", reason } : { ...base, action: "unchanged" };
  }
  // Stale writers: a file still holding a token we already rotated past, or a read older than the one adopted.
  if (isSpentRefreshToken(linked, candidate.secrets.refreshToken)) {
    return {
      ...base,
      action: touched ? "updated" : "skipped",
      reason: "the file holds a refresh token the pool has already used",
      staleFile: true,
    };
  }
  const adoptedMtime = typeof linked.sourceMtimeMs === "number" ? linked.sourceMtimeMs : 0;
  if ((candidate.sourceMtimeMs ?? 0) < adoptedMtime) {
    return {
      ...base,
      action: touched ? "updated" : "skipped",
      reason: "an older read of the file than the one adopted",
    };
  }
  const previousRefreshToken = linked.secrets.refreshToken;
  const secrets: CredentialSecrets = { ...linked.secrets, ...candidate.secrets };
  if (candidate.kind === "oauth" && candidate.secrets.expiresAt === undefined) delete secrets.expiresAt;
  linked.secrets = secrets;
  linked.tokenGeneration += 1;
  if (candidate.sourceMtimeMs !== undefined) linked.sourceMtimeMs = candidate.sourceMtimeMs;
  // A re-login in the other tool revives a dead or refresh-benched credential.
  if (isClearedByNewTokens(linked.status)) {
    linked.status = { state: "ok", since: now };
    // Requests still running on the old token must not undo this when they fail (see pool's applyFailure).
    linked.statusClearedAt = now;
  }
  updateRefreshState(linked, (state) => {
    if (previousRefreshToken && previousRefreshToken !== secrets.refreshToken)
      rememberUsedToken(state, previousRefreshToken);
    for (const key of ["backoffUntil", "strikes", "lastError", "unknownTokenFp", "rejectedTokenFp"]) delete state[key];
  });
  return { ...base, action: "updated", reason: "new tokens" };
}

/** Applies every candidate to `doc` (mutating it) and reports what happened to each. */
export function applyCandidates(
  doc: PoolDocument,
  candidates: readonly CredentialCandidate[],
  options: ApplyOptions,
): SyncChange[] {
  const changes: SyncChange[] = [];
  for (const candidate of candidates) {
    const existing = doc.providers[candidate.provider]?.credentials ?? [];
    const base = { source: candidate.source, provider: candidate.provider, label: candidate.label };
    if (candidate.sourcePath) {
      const linked = existing.find(
        (credential) =>
          credential.source === candidate.source &&
          credential.sourcePath === candidate.sourcePath &&
          credential.kind === candidate.kind,
      );
      if (linked) {
        changes.push(updateLinked(linked, candidate, options.now));
        continue;
      }
    }
    const twin = existing.find(
      (credential) =>
        sameSecret(credential, candidate) ||
        (candidate.source === "hermes" &&
          candidate.extra?.hermesId !== undefined &&
          credential.source === "hermes" &&
          credential.hermesId === candidate.extra.hermesId),
    );
    if (twin) {
      changes.push({
        ...base,
        action: "unchanged",
        label: twin.label,
        credentialId: twin.id,
        reason: "already in the pool",
      });
      continue;
    }
    if (!options.addNew) {
      changes.push({ ...base, action: "skipped", reason: "not in the pool yet" });
      continue;
    }
    const added = addCredential(doc, candidate, options.now);
    changes.push({ ...base, action: "added", label: added.label, credentialId: added.id });
  }
  return changes;
}

export function isWriteChange(change: SyncChange): boolean {
  return change.action === "added" || change.action === "updated";
}

/** The credential a change refers to, in a (newer) copy of the document. */
export function credentialOfChange(doc: PoolDocument, change: SyncChange): Credential | undefined {
  return change.credentialId === undefined ? undefined : findCredential(doc, change.credentialId);
}
