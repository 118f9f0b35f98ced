// Quota windows kept on each credential: observations merged window by window (the newer one wins), and read back
// for display and the headroom strategy. Parsing the headers is quota-windows.ts.
import type { Credential, CredentialQuota, StoredQuotaWindow } from "../store/schema.js";
import { formatQuotaWindow, type QuotaReading } from "./quota-windows.js";

/** What one response reported, stamped with when it arrived; undefined when it reported no window. */
export function quotaFromReading(reading: QuotaReading, observedAt: number): CredentialQuota | undefined {
  if (reading.windows.length === 0) return undefined;
  const at = Math.max(0, Math.round(observedAt));
  const windows = reading.windows.map((window): StoredQuotaWindow => {
    const stored: StoredQuotaWindow = { ...window, observedAt: at };
    // Epoch seconds with a fraction, or a fractional reset-after, would not be an integer epoch.
    if (window.resetAt !== undefined) stored.resetAt = Math.max(0, Math.round(window.resetAt));
    return stored;
  });
  return { windows, ...(reading.representative ? { representative: reading.representative } : {}), observedAt: at };
}

/**
 * `incoming` merged into `base`, window by window: an observation replaces another of the same window only when it
 * is at least as new, so a late commit of an old reading never undoes a newer one. Neither argument is changed.
 */
export function mergeQuota(
  base: CredentialQuota | undefined,
  incoming: CredentialQuota | undefined,
): CredentialQuota | undefined {
  if (!incoming) return base;
  if (!base) return incoming;
  const byName = new Map(base.windows.map((window) => [window.name, window]));
  for (const window of incoming.windows) {
    const known = byName.get(window.name);
    if (!known || window.observedAt >= known.observedAt) byName.set(window.name, window);
  }
  const [older, newer] = incoming.observedAt >= base.observedAt ? [base, incoming] : [incoming, base];
  const representative = newer.representative ?? older.representative;
  return {
    ...older,
    ...newer,
    windows: [...byName.values()],
    ...(representative ? { representative } : {}),
    observedAt: newer.observedAt,
  };
}

/** A window whose reset time has passed says nothing about now: its utilisation is history. */
export function isStaleWindow(window: Pick<StoredQuotaWindow, "resetAt">, now: number): boolean {
  return window.resetAt !== undefined && window.resetAt <= now;
}

/**
 * The share left in the tightest current window, 0..1: a `rejected` window counts as fully used. Undefined when
 * no current window reports how much is used (no observation yet, or every window has reset since).
 */
export function headroomOf(quota: CredentialQuota | undefined, now: number): number | undefined {
  let used: number | undefined;
  for (const window of quota?.windows ?? []) {
    if (isStaleWindow(window, now)) continue;
    const share = window.status === "rejected" ? 1 : window.utilisation;
    if (share !== undefined) used = Math.max(used ?? 0, share);
  }
  return used === undefined ? undefined : 1 - used;
}

/** The credential's stored windows with any observation not yet committed merged in. */
export function quotaWithPending(
  credential: Credential,
  pending: Iterable<CredentialQuota | undefined>,
): CredentialQuota | undefined {
  let quota = credential.quota;
  for (const reading of pending) quota = mergeQuota(quota, reading);
  return quota;
}

export interface QuotaWindowView {
  readonly name: string;
  /** Share used, 0..1; null when unknown or stale (the window has reset since it was observed). */
  readonly utilisation: number | null;
  readonly resetAt: number | null;
  readonly status: NonNullable<StoredQuotaWindow["status"]> | null;
  readonly observedAt: number;
  /** The reset time has passed: what was observed is history. */
  readonly stale: boolean;
  /** `5h 62% · resets 14:05`, in the host's time zone unless one is given. */
  readonly text: string;
}

/** The credential's windows for display, current ones first, the most used first among them. */
export function quotaWindowViews(
  quota: CredentialQuota | undefined,
  now: number,
  timeZone?: string,
): QuotaWindowView[] {
  const views = (quota?.windows ?? []).map((window): QuotaWindowView => {
    const stale = isStaleWindow(window, now);
    return {
      name: window.name,
      utilisation: stale ? null : (window.utilisation ?? null),
      resetAt: window.resetAt ?? null,
      status: stale ? null : (window.status ?? null),
      observedAt: window.observedAt,
      stale,
      text: formatQuotaWindow(window, { now, ...(timeZone ? { timeZone } : {}) }),
    };
  });
  const used = (view: QuotaWindowView) => (view.status === "rejected" ? 1 : (view.utilisation ?? -1));
  return views
    .map((view, index) => ({ view, index }))
    .sort((a, b) => Number(a.view.stale) - Number(b.view.stale) || used(b.view) - used(a.view) || a.index - b.index)
    .map((entry) => entry.view);
}
