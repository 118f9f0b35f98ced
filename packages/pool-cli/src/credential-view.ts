// How a credential is shown: the status line people read ("exhausted 429 · 41m left") and the JSON shapes
// scripts read. Secrets never leave this module unmasked.
import {
  maskSecret,
  quotaWindowViews,
  redactValues,
  reloginAdvice,
  secretValuesOf,
  type Credential,
  type CredentialStatus,
  type CredentialView,
} from "@credpool/pool-core";
import { formatDuration, isoOrNull, type Style } from "./output.js";

export interface StatusLine {
  readonly text: string;
  readonly style: Style | undefined;
}

/** What the user can do about a dead credential, as core advises it, shaped to follow a "·" in a status line. */
export function deadCredentialFix(credential: Credential): string {
  const advice = reloginAdvice(credential).replace(/\.$/, "");
  return advice.charAt(0).toLowerCase() + advice.slice(1);
}

function statusCode(status: CredentialStatus): string {
  return status.httpStatus !== undefined && status.httpStatus > 0 ? String(status.httpStatus) : (status.reason ?? "");
}

function activeModelCooldowns(credential: Credential, now: number): CredentialStatus[] {
  return (credential.modelCooldowns ?? []).filter(
    (status) => status.state === "exhausted" && (status.until ?? 0) > now,
  );
}

export function refOf(view: Pick<CredentialView, "credential" | "index">): string {
  return `${view.credential.provider}#${view.index}`;
}

export function describeStatus(view: CredentialView, now: number): StatusLine {
  const { credential, unavailable } = view;
  const leases = view.activeLeases > 0 ? ` · ${view.activeLeases} lease${view.activeLeases > 1 ? "s" : ""}` : "";
  if (!unavailable) {
    const models = activeModelCooldowns(credential, now).map(
      (status) => `${status.model ?? "?"} ${statusCode(status)} · ${formatDuration((status.until ?? now) - now)} left`,
    );
    const expired = credential.status.state === "exhausted" ? " (cooldown over)" : "";
    return { text: `ok${expired}${leases}${models.length > 0 ? ` · ${models.join(", ")}` : ""}`, style: "green" };
  }
  switch (unavailable.kind) {
    case "dead":
      return { text: `dead: ${unavailable.reason} · ${deadCredentialFix(credential)}`, style: "red" };
    case "exhausted":
      return {
        text: `exhausted ${statusCode(credential.status)} · ${formatDuration(unavailable.until - now)} left`.replace(
          / {2}/g,
          " ",
        ),
        style: "yellow",
      };
    case "at_capacity":
      return {
        // Not the retry hint (a second): how long the soonest lease may still run, e.g. a 24 h lease shows 24h.
        text: `busy ${unavailable.held}/${unavailable.max} leases · ${formatDuration(unavailable.leasesEndAt - now)} left`,
        style: "yellow",
      };
    case "no_secret":
      return { text: "no secret · re-import or re-add it", style: "red" };
    case "excluded":
      return { text: "excluded", style: "dim" };
    case "disabled":
      return { text: "disabled by an admin", style: "dim" };
  }
}

/** A quota window as `list --json` and `show --json` carry it. */
export interface QuotaWindowSummary {
  name: string;
  /** Share used, 0..1; null when not reported, or stale. */
  utilisation: number | null;
  usedPercent: number | null;
  resetAt: string | null;
  status: "allowed" | "allowed_warning" | "rejected" | null;
  observedAt: string | null;
  /** Its reset has passed since it was observed: the utilisation is history, so it is left out. */
  stale: boolean;
  text: string;
}

export function summarizeQuota(credential: Credential, now: number): QuotaWindowSummary[] {
  return quotaWindowViews(credential.quota, now).map((view) => ({
    name: view.name,
    utilisation: view.utilisation,
    usedPercent: view.utilisation === null ? null : Math.round(view.utilisation * 100),
    resetAt: isoOrNull(view.resetAt ?? undefined),
    status: view.status,
    observedAt: isoOrNull(view.observedAt),
    stale: view.stale,
    text: view.text,
  }));
}

/** The windows in one line, the tightest first: `5h 62% · resets 14:05, 7d 40% · resets Jun 3 09:00`. */
export function describeQuota(credential: Credential, now: number, limit = Infinity): string {
  const texts = quotaWindowViews(credential.quota, now).map((view) => view.text);
  if (texts.length === 0) return "";
  const shown = texts.slice(0, limit).join(", ");
  return texts.length > limit ? `${shown}, +${texts.length - limit} more` : shown;
}

/** `list --json` element. Stable: fields are only ever added. */
export interface CredentialSummary {
  ref: string;
  provider: string;
  index: number;
  id: string;
  label: string;
  kind: "api_key" | "oauth";
  priority: number;
  source: string;
  baseUrl: string | null;
  state: "ok" | "exhausted" | "dead";
  available: boolean;
  status: string;
  reason: string | null;
  httpStatus: number | null;
  until: string | null;
  secondsLeft: number | null;
  modelCooldowns: { model: string | null; httpStatus: number | null; reason: string | null; until: string | null }[];
  requests: number;
  failures: number;
  lastUsedAt: string | null;
  activeLeases: number;
  maxConcurrent: number | null;
  createdAt: string | null;
  /** Quota windows the upstream reported (proxy traffic), tightest first; empty when none was observed. */
  quota: QuotaWindowSummary[];
}

export function summarizeCredential(view: CredentialView, now: number): CredentialSummary {
  const { credential } = view;
  const { status } = credential;
  const until = view.unavailable && "until" in view.unavailable ? view.unavailable.until : undefined;
  // The effective state: a cooldown that has run out reads as ok before any process writes that down.
  const state =
    view.unavailable?.kind === "dead" ? "dead" : view.unavailable?.kind === "exhausted" ? "exhausted" : "ok";
  return {
    ref: refOf(view),
    provider: credential.provider,
    index: view.index,
    id: credential.id,
    label: credential.label,
    kind: credential.kind,
    priority: credential.priority,
    source: credential.source,
    baseUrl: credential.baseUrl ?? null,
    state,
    available: view.available,
    status: describeStatus(view, now).text,
    reason: state === "ok" ? null : (status.reason ?? null),
    httpStatus: state === "ok" ? null : (status.httpStatus ?? null),
    until: isoOrNull(until),
    secondsLeft: until === undefined ? null : Math.max(0, Math.ceil((until - now) / 1000)),
    modelCooldowns: activeModelCooldowns(credential, now).map((cooldown) => ({
      model: cooldown.model ?? null,
      httpStatus: cooldown.httpStatus ?? null,
      reason: cooldown.reason ?? null,
      until: isoOrNull(cooldown.until),
    })),
    requests: credential.usage.requests,
    failures: credential.usage.failures,
    lastUsedAt: isoOrNull(credential.usage.lastUsedAt),
    activeLeases: view.activeLeases,
    maxConcurrent: credential.maxConcurrent ?? null,
    createdAt: isoOrNull(credential.createdAt),
    quota: summarizeQuota(credential, now),
  };
}

/** `show --json`: the summary plus masked secrets, status detail and leases. */
export interface CredentialDetail extends CredentialSummary {
  secrets: {
    apiKey: string | null;
    accessToken: string | null;
    refreshToken: string | null;
    idToken: string | null;
    accountId: string | null;
    expiresAt: string | null;
  };
  tokenGeneration: number;
  statusMessage: string | null;
  statusSince: string | null;
  statusClearedAt: string | null;
  leases: { id: string; startedAt: string; expiresAt: string; holder: string | null; model: string | null }[];
}

function masked(value: string | undefined): string | null {
  return value ? maskSecret(value) : null;
}

export function detailCredential(view: CredentialView, now: number): CredentialDetail {
  const { credential } = view;
  const { secrets } = credential;
  return {
    ...summarizeCredential(view, now),
    secrets: {
      apiKey: masked(secrets.apiKey),
      accessToken: masked(secrets.accessToken),
      refreshToken: masked(secrets.refreshToken),
      idToken: masked(secrets.idToken),
      // An account id identifies, it does not authenticate; still, show only its tail.
      accountId: masked(secrets.accountId),
      expiresAt: isoOrNull(secrets.expiresAt),
    },
    tokenGeneration: credential.tokenGeneration,
    // Redacted again on the way out: a message stored by an older build may still hold this credential's secret.
    statusMessage:
      credential.status.message === undefined
        ? null
        : redactValues(credential.status.message, secretValuesOf(credential.secrets)),
    statusSince: isoOrNull(credential.status.since),
    statusClearedAt: isoOrNull(credential.statusClearedAt),
    leases: (credential.leases ?? [])
      .filter((lease) => lease.expiresAt > now)
      .map((lease) => ({
        id: lease.id,
        startedAt: new Date(lease.startedAt).toISOString(),
        expiresAt: new Date(lease.expiresAt).toISOString(),
        holder: lease.holder ?? null,
        model: lease.model ?? null,
      })),
  };
}
