// The usage ledger: request and failure counts, and the quota windows responses reported, kept in memory and
// committed in batches, so a lease costs no write. What is in flight stays visible to least_used and headroom, and
// a failed commit puts it back for the next flush.
import type { PoolBackend } from "../store/index.js";
import type { Credential, CredentialQuota, PoolDocument } from "../store/schema.js";
import { clearExpiredCooldowns } from "./health-transitions.js";
import { mergeQuota, quotaWithPending } from "./quota-store.js";
import { findCredential } from "./targets.js";

export interface UsageDelta {
  requests: number;
  failures: number;
  lastUsedAt: number;
  /** Successful outcomes since the last flush: an expired cooldown is cleared on the next flush. */
  succeeded: boolean;
  /** Models whose requests succeeded since the last flush: their expired per-model cooldowns are cleared too. */
  succeededModels: Set<string>;
}

export interface UsageLedger {
  /** The pending counts of one credential, to add to. */
  readonly usageOf: (id: string) => UsageDelta;
  /** Committed, pending and in-flight requests: what least_used compares. */
  readonly requestsOf: (credential: Credential) => number;
  /** Records quota windows a response reported; committed with the next flush, the newer reading winning. */
  readonly observeQuota: (id: string, quota: CredentialQuota) => void;
  /** Committed, pending and in-flight quota windows: what headroom compares. */
  readonly quotaOf: (credential: Credential) => CredentialQuota | undefined;
  /** Moves `usage` into `doc`. Called inside a transaction, so it sees the freshest state. */
  readonly applyUsage: (doc: PoolDocument, usage: Map<string, UsageDelta>) => void;
  /** Commits the pending counters together with `mutate`; on failure they go back to pending for the next flush. */
  readonly commitUsage: (mutate: (doc: PoolDocument, usage: Map<string, UsageDelta>) => void) => Promise<PoolDocument>;
  readonly scheduleFlush: () => void;
  readonly flush: () => Promise<void>;
  /** Flushes what is pending; no flush is scheduled after this. */
  readonly close: () => Promise<void>;
}

export function createUsageLedger(options: {
  backend: PoolBackend;
  now: () => number;
  flushMs: number;
  onFlushError: (error: unknown) => void;
}): UsageLedger {
  const { backend, now } = options;
  const pendingUsage = new Map<string, UsageDelta>();
  /** Counts taken out of `pendingUsage` by a commit still in flight (a flush or a failure report). */
  const inFlightUsage = new Set<Map<string, UsageDelta>>();
  /** Quota windows observed since the last flush, committed with the counters (quota-store.ts merges them). */
  const pendingQuota = new Map<string, CredentialQuota>();
  const inFlightQuota = new Set<Map<string, CredentialQuota>>();
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | null = null;
  let closed = false;

  function usageOf(map: Map<string, UsageDelta>, id: string): UsageDelta {
    let delta = map.get(id);
    if (!delta) {
      delta = { requests: 0, failures: 0, lastUsedAt: 0, succeeded: false, succeededModels: new Set() };
      map.set(id, delta);
    }
    return delta;
  }

  function mergeUsage(into: UsageDelta, delta: UsageDelta): void {
    into.requests += delta.requests;
    into.failures += delta.failures;
    into.lastUsedAt = Math.max(into.lastUsedAt, delta.lastUsedAt);
    into.succeeded ||= delta.succeeded;
    for (const model of delta.succeededModels) into.succeededModels.add(model);
  }

  function requestsOf(credential: Credential): number {
    let requests = credential.usage.requests + (pendingUsage.get(credential.id)?.requests ?? 0);
    if (inFlightUsage.size > 0) {
      for (const usage of inFlightUsage) requests += usage.get(credential.id)?.requests ?? 0;
    }
    return requests;
  }

  function observeQuota(id: string, quota: CredentialQuota): void {
    const merged = mergeQuota(pendingQuota.get(id), quota);
    if (merged) pendingQuota.set(id, merged);
    scheduleFlush();
  }

  function quotaOf(credential: Credential): CredentialQuota | undefined {
    const pending = pendingQuota.get(credential.id);
    if (inFlightQuota.size === 0) return pending ? mergeQuota(credential.quota, pending) : credential.quota;
    return quotaWithPending(credential, [...[...inFlightQuota].map((quota) => quota.get(credential.id)), pending]);
  }

  function scheduleFlush(): void {
    if (flushTimer || closed) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void flush().catch(options.onFlushError);
    }, options.flushMs);
    flushTimer.unref();
  }

  function applyUsage(doc: PoolDocument, usage: Map<string, UsageDelta>): void {
    const at = now();
    for (const [id, delta] of usage) {
      const credential = findCredential(doc, id);
      if (!credential) continue;
      credential.usage.requests += delta.requests;
      credential.usage.failures += delta.failures;
      if (delta.lastUsedAt > (credential.usage.lastUsedAt ?? 0)) credential.usage.lastUsedAt = delta.lastUsedAt;
      if (delta.succeeded) clearExpiredCooldowns(credential, at, delta.succeededModels);
    }
  }

  function applyQuota(doc: PoolDocument, quotas: Map<string, CredentialQuota>): void {
    for (const [id, quota] of quotas) {
      const credential = findCredential(doc, id);
      // Merged into the committed state: another process may have stored a newer reading meanwhile.
      if (credential) credential.quota = mergeQuota(credential.quota, quota);
    }
  }

  async function commitUsage(
    mutate: (doc: PoolDocument, usage: Map<string, UsageDelta>) => void,
  ): Promise<PoolDocument> {
    const usage = new Map(pendingUsage);
    pendingUsage.clear();
    const quotas = new Map(pendingQuota);
    pendingQuota.clear();
    // Keep these counts visible to least_used (and these windows to headroom) until the snapshot holds them.
    inFlightUsage.add(usage);
    inFlightQuota.add(quotas);
    try {
      return await backend.update((doc) => {
        applyQuota(doc, quotas);
        mutate(doc, usage);
      });
    } catch (error) {
      for (const [id, delta] of usage) mergeUsage(usageOf(pendingUsage, id), delta);
      // Back to pending, where a newer reading observed meanwhile still wins.
      for (const [id, quota] of quotas) {
        const merged = mergeQuota(quota, pendingQuota.get(id));
        if (merged) pendingQuota.set(id, merged);
      }
      scheduleFlush();
      throw error;
    } finally {
      inFlightUsage.delete(usage);
      inFlightQuota.delete(quotas);
    }
  }

  async function flush(): Promise<void> {
    // Loop: a caller that queued behind a flush must also wait for the one another queued caller started, or it
    // would resolve before the counts it asked for are on disk. A failed flush put its counts back, so retry them.
    while (flushing) await flushing.catch(() => undefined);
    if (pendingUsage.size === 0 && pendingQuota.size === 0) return;
    const current = commitUsage(applyUsage).then(() => undefined);
    flushing = current;
    try {
      await current;
    } finally {
      if (flushing === current) flushing = null;
    }
  }

  async function close(): Promise<void> {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    await flush();
    closed = true;
  }

  return {
    usageOf: (id) => usageOf(pendingUsage, id),
    requestsOf,
    observeQuota,
    quotaOf,
    applyUsage,
    commitUsage,
    scheduleFlush,
    flush,
    close,
  };
}
