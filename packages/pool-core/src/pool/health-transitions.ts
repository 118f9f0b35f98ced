// Health transitions as pure functions on a pool document: a failure benches a credential (or one of its models),
// a success after the bench ends clears it, and a reset clears everything. The pool commits what these change.
import type { Credential, CredentialStatus, PoolDocument } from "../store/schema.js";
import { checkAvailability, findModelCooldown } from "./availability.js";
import { classifyFailure, computeFailureStatus, type FailureReport, type HealthConfig } from "./health.js";
import { reportsAccountLimit } from "./reset-info.js";
import { sanitizeLabelText, secretValuesOf } from "./sanitize.js";

/**
 * A request worked after its bench expired: clear the expired status, which ends the backoff ladder, so the next
 * 429 starts again at the base. Per-model windows end only for the models that succeeded: a success on one model
 * says nothing about another model's limit. See test/pool/pool.test.ts ("resets that model's 429 ladder").
 */
export function clearExpiredCooldowns(credential: Credential, at: number, models: ReadonlySet<string>): void {
  if (credential.status.state === "exhausted" && (credential.status.until ?? 0) <= at) {
    credential.status = { state: "ok", since: at };
  }
  const cooldowns = credential.modelCooldowns;
  if (!cooldowns || models.size === 0) return;
  const kept = cooldowns.filter((status) => !(status.model && models.has(status.model) && (status.until ?? 0) <= at));
  if (kept.length === cooldowns.length) return;
  if (kept.length > 0) credential.modelCooldowns = kept;
  else delete credential.modelCooldowns;
}

/**
 * Records `failure` on `credential` (a request that began at `observedAt`) and returns the status it moved to, or
 * undefined when nothing changed.
 */
export function applyFailure(
  doc: PoolDocument,
  credential: Credential,
  report: FailureReport,
  { observedAt, at, config }: { observedAt: number; at: number; config: HealthConfig },
): CredentialStatus | undefined {
  // A model name comes from a client: stored, compared and shown without control characters.
  const failure = report.model === undefined ? report : { ...report, model: sanitizeLabelText(report.model) };
  // An explicit reset after this request began wins over the request's stale failure.
  if (credential.statusClearedAt !== undefined && observedAt <= credential.statusClearedAt) return undefined;
  // Only a rate limit is per model: a billing 429 (insufficient_quota) naming a model fails every model alike, and so
  // does a subscription window that ran out (a unified window `rejected`, a Codex window at 100 %): it is the account's.
  const perModel =
    failure.model !== undefined && classifyFailure(failure) === "rate_limit" && !reportsAccountLimit(failure.headers);
  // "Sole credential" means for the request that failed: others benched for this model cannot stand in for it.
  const others = (doc.providers[credential.provider]?.credentials ?? []).filter(
    (other) =>
      other.id !== credential.id &&
      checkAvailability(other, at, perModel ? { model: failure.model } : {}) === undefined,
  );
  const current = perModel
    ? (findModelCooldown(credential, failure.model, at) ?? latestModelStatus(credential, failure.model))
    : credential.status;
  const next = computeFailureStatus(failure, {
    now: at,
    current,
    soleCredential: others.length === 0,
    config,
    secrets: secretValuesOf(credential.secrets),
  });
  if (!next || next === current) return undefined;
  if (perModel && next.state === "exhausted") {
    // Other models' entries stay even once expired: they carry those models' 429 ladders, which only a success on
    // that model ends (clearExpiredCooldowns), as the credential's own status does.
    credential.modelCooldowns = [
      ...(credential.modelCooldowns ?? []).filter((status) => status.model !== failure.model),
      next,
    ];
  } else {
    credential.status = next;
  }
  return next;
}

function latestModelStatus(credential: Credential, model: string | undefined) {
  return credential.modelCooldowns?.find((status) => status.model === model);
}

/** Clears cooldowns and a dead state; a failure from a request that began before `at` no longer counts. */
export function clearStatus(credential: Credential, at: number): void {
  credential.status = { state: "ok", since: at };
  delete credential.modelCooldowns;
  credential.statusClearedAt = at;
}
