// What the status page shows, built from the pool the store's watcher keeps current: credentials without secrets,
// leases and holders, quota windows, hourly usage, recent events and the gateway's health. Every change the watcher
// delivers (from this process, the CLI, another gateway) is pushed to the subscribers.
import {
  openUsageBackend,
  type Credential,
  type DocumentStore,
  type Pool,
  type PoolDocument,
  type UsageBucket,
} from "@credpool/pool-core";
import { toCredentialJson } from "../routes/views.js";

/** One line of "recent events": names and reasons only, never a message or a secret. */
export interface StatusEvent {
  readonly at: number;
  /** cooldown, rate_limited, dead, recovered, refreshed, relogin, disabled, enabled, totp_failure, refresh_failed. */
  readonly kind: string;
  readonly provider?: string;
  readonly credential?: string;
  readonly detail?: string;
}

export interface StatusFeed {
  /** The whole state now, as JSON text: a client that (re)connects catches up from it. */
  snapshot(): string;
  /** Called with a fresh snapshot after each change; returns an unsubscribe function. */
  subscribe(listener: (snapshot: string) => void): () => void;
  /** Adds an event this process saw that the document does not show (a TOTP failure, a failed refresh). */
  note(event: Omit<StatusEvent, "at">): void;
  close(): void;
}

export interface StatusFeedOptions {
  readonly pool: Pool;
  /** usage.json beside the pool; absent: no usage charts. */
  readonly usagePath?: string;
  /** The shared store (PostgreSQL) that holds the usage document instead of usage.json. */
  readonly documents?: DocumentStore | undefined;
  readonly now?: () => number;
  /** How often usage.json is re-read for the charts (its recorder flushes about once a second). */
  readonly usageIntervalMs?: number;
}

const MAX_EVENTS = 50;
const EVENT_WINDOW_MS = 3_600_000;
const HOUR_MS = 3_600_000;
const USAGE_HOURS = 6;
const BROADCAST_MS = 100;

function credentialsOf(doc: PoolDocument): Map<string, Credential> {
  const all = new Map<string, Credential>();
  for (const provider of Object.values(doc.providers)) for (const c of provider.credentials) all.set(c.id, c);
  return all;
}

/** The transitions a person wants to see, derived from two revisions of the document. */
function eventsBetween(before: PoolDocument, after: PoolDocument, at: number): StatusEvent[] {
  const previous = credentialsOf(before);
  const events: StatusEvent[] = [];
  for (const [id, now] of credentialsOf(after)) {
    const old = previous.get(id);
    if (!old) continue;
    const base = { at, provider: now.provider, credential: now.label ?? id };
    const was = old.status.state;
    const is = now.status.state;
    if ((now.disabled === true) !== (old.disabled === true)) {
      events.push({ ...base, kind: now.disabled === true ? "disabled" : "enabled" });
    }
    if (now.tokenGeneration > old.tokenGeneration) {
      events.push({ ...base, kind: was === "dead" ? "relogin" : "refreshed" });
    }
    if (is !== was || now.status.until !== old.status.until) {
      if (is === "dead") events.push({ ...base, kind: "dead", detail: now.status.reason });
      else if (is === "exhausted") {
        const http = now.status.httpStatus;
        events.push({
          ...base,
          kind: http === 429 ? "rate_limited" : "cooldown",
          detail: [http === undefined ? undefined : `HTTP ${http}`, now.status.reason].filter(Boolean).join(" "),
        });
      } else if (was !== "ok") events.push({ ...base, kind: "recovered" });
    }
  }
  return events;
}

function hourStart(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS;
}

export function createStatusFeed(options: StatusFeedOptions): StatusFeed {
  const { pool } = options;
  const now = options.now ?? Date.now;
  const startedAt = now();
  const listeners = new Set<(snapshot: string) => void>();
  let events: StatusEvent[] = [];
  let lastDoc = pool.doc;
  let lagMs: number | undefined;
  // credential id -> requests/tokens per hour, oldest first.
  let usage = new Map<string, Array<{ hour: number; requests: number; tokens: number }>>();
  let usageRev = -1;

  const push = (added: StatusEvent[]): void => {
    if (added.length === 0) return;
    events = [...added.reverse(), ...events].slice(0, MAX_EVENTS);
  };

  const build = (): string => {
    const at = now();
    const doc = pool.doc;
    const providers = Object.fromEntries(
      Object.keys(doc.providers)
        .sort()
        .map((name) => [
          name,
          {
            strategy: doc.providers[name]?.strategy ?? "fill_first",
            credentials: pool.list(name).map((view) => {
              // No secret, not even masked, and no status message (text from an upstream may quote anything).
              const { secret: _secret, source: _source, status, ...shown } = toCredentialJson(view, at);
              const { message: _message, ...statusShown } = status as Record<string, unknown>;
              const leases = (view.credential.leases ?? [])
                .filter((lease) => lease.expiresAt > at)
                .map((lease) => ({ holder: lease.holder ?? null, expiresAt: lease.expiresAt, model: lease.model }));
              return { ...shown, status: statusShown, leases, hourly: usage.get(view.credential.id) ?? [] };
            }),
          },
        ]),
    );
    return JSON.stringify({
      at,
      gateway: {
        startedAt,
        uptimeMs: at - startedAt,
        rev: doc.rev,
        backend: pool.backend.kind,
        lagMs,
      },
      providers,
      events: events.filter((event) => event.at > at - EVENT_WINDOW_MS),
    });
  };

  // Changes are coalesced: under heavy lease traffic every commit is a revision, and one snapshot per
  // BROADCAST_MS is plenty for a page while staying well within "a change shows within a second".
  let timer: NodeJS.Timeout | undefined;
  let lastSentAt = 0;
  const broadcast = (): void => {
    if (listeners.size === 0 || timer) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        lastSentAt = now();
        const text = build();
        for (const listener of listeners) listener(text);
      },
      Math.max(0, lastSentAt + BROADCAST_MS - now()),
    );
    timer.unref();
  };

  const stopWatching = pool.onChange((change) => {
    const at = now();
    // How long the newest revision took from its commit to this gateway.
    const updated = Date.parse(change.doc.updatedAt);
    lagMs = Number.isFinite(updated) ? Math.max(0, at - updated) : undefined;
    push(eventsBetween(lastDoc, change.doc, at));
    lastDoc = change.doc;
    broadcast();
  });

  const usageBackend = options.usagePath
    ? openUsageBackend(options.usagePath, { create: false, documents: options.documents })
    : undefined;
  const readUsage = async (): Promise<void> => {
    if (!usageBackend) return;
    let doc: { rev: number; buckets: UsageBucket[] };
    try {
      const read = await usageBackend.read();
      doc = { rev: read.rev, buckets: read.doc.buckets };
    } catch {
      return; // No usage.json yet (nothing proxied): the charts stay empty.
    }
    if (doc.rev === usageRev) return;
    usageRev = doc.rev;
    const first = hourStart(now()) - (USAGE_HOURS - 1) * HOUR_MS;
    const next = new Map<string, Array<{ hour: number; requests: number; tokens: number }>>();
    for (const bucket of doc.buckets) {
      const hour = Date.parse(bucket.hour);
      if (!(hour >= first)) continue;
      let series = next.get(bucket.credentialId);
      if (!series) {
        series = Array.from({ length: USAGE_HOURS }, (_, i) => ({ hour: first + i * HOUR_MS, requests: 0, tokens: 0 }));
        next.set(bucket.credentialId, series);
      }
      const slot = series[Math.min(USAGE_HOURS - 1, Math.floor((hour - first) / HOUR_MS))];
      if (!slot) continue;
      slot.requests += bucket.requests;
      slot.tokens += bucket.input + bucket.output + bucket.cacheRead + bucket.cacheWrite;
    }
    usage = next;
    broadcast();
  };
  void readUsage();
  const usageTimer = setInterval(() => void readUsage(), options.usageIntervalMs ?? 5000);
  usageTimer.unref();

  return {
    snapshot: build,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    note(event) {
      push([{ at: now(), ...event }]);
      broadcast();
    },
    close() {
      stopWatching();
      clearInterval(usageTimer);
      clearTimeout(timer);
      listeners.clear();
      void usageBackend?.close().catch(() => undefined);
    },
  };
}
