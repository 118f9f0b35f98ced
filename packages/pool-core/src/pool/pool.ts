// The pool: credential CRUD, in-memory selection from the watched snapshot, leases, health and batched usage.
import { hostname } from "node:os";
import { z } from "zod";
import { PoolError, fromZodError, isPoolError } from "../errors.js";
import { randomId } from "../ids.js";
import type { DocumentChange } from "../store/backend.js";
import { createFileBackend, type FileBackendOptions } from "../store/file-backend.js";
import type { PoolBackend } from "../store/index.js";
import {
  credentialSecretsSchema,
  strategySchema,
  type Credential,
  type CredentialSecrets,
  type PoolDocument,
  type ProviderPool,
  type Strategy,
} from "../store/schema.js";
import { openSnapshot, type Snapshot } from "../store/snapshot.js";
import {
  checkAvailability,
  describeUnavailability,
  findModelCooldown,
  liveLeases,
  type Unavailability,
} from "./availability.js";
import { classifyFailure, computeFailureStatus, healthConfigSchema, type FailureReport, type HealthConfig } from "./health.js";
import { parsePoolOptions } from "./pool-options.js";
import { assertProviderName, getProviderDefaults } from "./providers.js";
import { chooseCredential, orderCredentials } from "./strategy.js";
import { findCredential, listCredentials, resolveTarget } from "./targets.js";
import { listCredentialViews, type CredentialView } from "./views.js";

export type { CredentialView } from "./views.js";

export const DEFAULT_STRATEGY: Strategy = "fill_first";
const DEFAULT_LEASE_TTL_MS = 10 * 60_000;
const NO_CREDENTIAL_LOG_INTERVAL_MS = 30_000;

export interface PoolEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Refreshes an OAuth credential that is due; returns the credential with a usable access token. */
export type CredentialRefresher = (pool: Pool, credential: Credential) => Promise<Credential>;

export const poolOptionsSchema = z.object({
  defaultLeaseTtlMs: z.number().int().positive().max(24 * 3_600_000).default(DEFAULT_LEASE_TTL_MS),
  usageFlushMs: z.number().int().positive().max(60_000).default(1000),
  health: healthConfigSchema.default(healthConfigSchema.parse({})),
});

export interface PoolOptions {
  /** Defaults to a file backend built from `file`. */
  backend?: PoolBackend;
  file?: FileBackendOptions;
  health?: Partial<HealthConfig>;
  defaultLeaseTtlMs?: number;
  /** Usage counters are flushed at most this often (and on close). A crash loses at most this much usage. */
  usageFlushMs?: number;
  /** Identifies this process in persisted lease records. */
  holder?: string;
  refresher?: CredentialRefresher;
  onEvent?: (event: PoolEvent) => void;
  now?: () => number;
}

export interface AddCredentialInput {
  provider: string;
  kind?: "api_key" | "oauth";
  label?: string;
  priority?: number;
  source?: string;
  baseUrl?: string;
  maxConcurrent?: number;
  secrets: CredentialSecrets;
  /** Extra fields kept on the credential (e.g. a source's own metadata). */
  extra?: Record<string, unknown>;
}

export interface SelectOptions {
  model?: string;
  exclude?: readonly string[];
}

export interface LeaseOptions extends SelectOptions {
  ttlMs?: number;
  /**
   * Record the lease in the document even when the credential is uncapped, so another process can release it
   * (e.g. `credpool lease` in one command and `credpool release` in the next).
   */
  persist?: boolean;
  /**
   * Leave the lease record in place when this process closes the pool: it ends only when some process calls
   * `releaseLease(id)` or its TTL lapses. Implies `persist`. For `credpool lease`, which exits at once.
   */
  detached?: boolean;
}

export type LeaseOutcome = "ok" | { error: FailureReport };


interface UsageDelta {
  requests: number;
  failures: number;
  lastUsedAt: number;
  /** Successful outcomes since the last flush: an expired cooldown is cleared on the next flush. */
  succeeded: boolean;
  /** Models whose requests succeeded since the last flush: their expired per-model cooldowns are cleared too. */
  succeededModels: Set<string>;
}

interface LocalLease {
  readonly id: string;
  readonly provider: string;
  readonly credentialId: string;
  readonly startedAt: number;
  expiresAt: number;
  readonly persisted: boolean;
  /** Outlives this process's close(); see LeaseOptions.detached. */
  readonly detached?: boolean;
  readonly model: string | undefined;
  released: boolean;
}

interface LeaseControl {
  renew(local: LocalLease, ttlMs?: number): Promise<void>;
  release(local: LocalLease, outcome: LeaseOutcome): Promise<void>;
}

/**
 * A lease as handed out (exported as a type only: leases come from `Pool.lease`). A class rather than an object
 * literal: one is built per lease, and a literal with a getter cost more than all the rest of building it.
 * Private fields keep the bookkeeping out of JSON.
 */
class Lease {
  readonly id: string;
  readonly provider: string;
  readonly credentialId: string;
  readonly label: string;
  readonly kind: Credential["kind"];
  readonly baseUrl: string | undefined;
  /** The API key or access token to send. Never a refresh token. */
  readonly token: string;
  readonly tokenType: "api_key" | "bearer";
  /** When the access token itself expires, if known. */
  readonly expiresAt: number | undefined;
  readonly startedAt: number;
  readonly model: string | undefined;
  /** Whether the lease is recorded in the document (capped credentials) or only in this process. */
  readonly persisted: boolean;
  readonly #local: LocalLease;
  readonly #control: LeaseControl;

  constructor(credential: Credential, token: string, local: LocalLease, control: LeaseControl) {
    this.id = local.id;
    this.provider = credential.provider;
    this.credentialId = credential.id;
    this.label = credential.label;
    this.kind = credential.kind;
    this.baseUrl = credential.baseUrl ?? getProviderDefaults(credential.provider).baseUrl;
    this.token = token;
    this.tokenType = credential.kind === "api_key" ? "api_key" : "bearer";
    this.expiresAt = credential.secrets.expiresAt;
    this.startedAt = local.startedAt;
    this.model = local.model;
    this.persisted = local.persisted;
    this.#local = local;
    this.#control = control;
  }

  get leaseExpiresAt(): number {
    return this.#local.expiresAt;
  }

  renew(ttlMs?: number): Promise<void> {
    return this.#control.renew(this.#local, ttlMs);
  }

  release(outcome: LeaseOutcome = "ok"): Promise<void> {
    return this.#control.release(this.#local, outcome);
  }
}

export type { Lease };

export interface Pool {
  readonly backend: PoolBackend;
  /** The newest document seen (watched). Treat as read-only. */
  readonly doc: PoolDocument;
  list(provider?: string): CredentialView[];
  resolve(target: string): Credential;
  add(input: AddCredentialInput): Promise<Credential>;
  remove(target: string): Promise<Credential>;
  setPriority(target: string, priority: number): Promise<Credential>;
  setStrategy(provider: string, strategy: Strategy): Promise<void>;
  /** Clears cooldowns (and dead states) on one credential, or on every credential of `provider`. */
  reset(provider: string, target?: string): Promise<Credential[]>;
  /** Records an outcome for a request made outside a lease (e.g. `credpool report`). */
  report(target: string, outcome: LeaseOutcome): Promise<Credential>;
  select(provider: string, options?: SelectOptions): Credential;
  lease(provider: string, options?: LeaseOptions): Promise<Lease>;
  /** Releases a persisted lease by id, from any process. */
  releaseLease(leaseId: string, outcome?: LeaseOutcome): Promise<Credential>;
  /** Applies a mutation to fresh state in one commit (for layers built on the pool). */
  update(fn: (doc: PoolDocument) => void): Promise<PoolDocument>;
  onChange(listener: (change: DocumentChange<PoolDocument>) => void): () => void;
  /** Writes pending usage counters now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Internal: the refresher failed for one credential; `lease` tries the next. */
class RefreshFailure extends Error {
  constructor(
    readonly credentialId: string,
    override readonly cause: unknown,
  ) {
    super("refresh failed");
  }
}

function providerOf(doc: PoolDocument, provider: string): ProviderPool | undefined {
  return doc.providers[provider];
}

function tokenOf(credential: Credential): string | undefined {
  return credential.kind === "api_key" ? credential.secrets.apiKey : credential.secrets.accessToken;
}

const addInputSchema = z.object({
  provider: z.string().min(1),
  kind: z.enum(["api_key", "oauth"]).optional(),
  label: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[^\s#]+$/, "labels have no spaces or #")
    .optional(),
  priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  source: z.string().min(1).optional(),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  maxConcurrent: z.number().int().positive().max(10_000).optional(),
  secrets: credentialSecretsSchema,
  extra: z.record(z.string(), z.unknown()).optional(),
});

export async function openPool(options: PoolOptions = {}): Promise<Pool> {
  const config = parsePoolOptions(options);
  const now = options.now ?? Date.now;
  const holder = options.holder ?? `${hostname()}:${process.pid}`;
  const backend = options.backend ?? createFileBackend(options.file);
  const snapshot: Snapshot<PoolDocument> = await openSnapshot(backend);

  const pendingUsage = new Map<string, UsageDelta>();
  /** Counts taken out of `pendingUsage` by a commit still in flight (a flush or a failure report). */
  const inFlightUsage = new Set<Map<string, UsageDelta>>();
  const localLeases = new Map<string, LocalLease>();
  const lastNoCredentialLog = new Map<string, number>();
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | null = null;
  let closed = false;

  const emit = (event: PoolEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // An observer's failure is not the pool's.
    }
  };

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

  function scheduleFlush(): void {
    if (flushTimer || closed) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void flush().catch((error: unknown) => emit({ event: "pool.flush_failed", error: (error as Error).message }));
    }, config.usageFlushMs);
    flushTimer.unref();
  }

  /**
   * A request worked after its bench expired: clear the expired status, which ends the backoff ladder, so the next
   * 429 starts again at the base. Per-model windows end only for the models that succeeded: a success on one model
   * says nothing about another model's limit. See test/pool/pool.test.ts ("resets that model's 429 ladder").
   */
  function clearExpiredCooldowns(credential: Credential, at: number, models: ReadonlySet<string>): void {
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

  /** Moves pending counters into `doc`. Called inside a transaction, so it sees the freshest state. */
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

  /** Commits the pending counters together with `mutate`; on failure they go back to pending for the next flush. */
  async function commitUsage(mutate: (doc: PoolDocument, usage: Map<string, UsageDelta>) => void): Promise<PoolDocument> {
    const usage = new Map(pendingUsage);
    pendingUsage.clear();
    // Keep these counts visible to least_used until the snapshot holds the committed ones.
    inFlightUsage.add(usage);
    try {
      return await backend.update((doc) => mutate(doc, usage));
    } catch (error) {
      for (const [id, delta] of usage) mergeUsage(usageOf(pendingUsage, id), delta);
      scheduleFlush();
      throw error;
    } finally {
      inFlightUsage.delete(usage);
    }
  }

  async function flush(): Promise<void> {
    // Loop: a caller that queued behind a flush must also wait for the one another queued caller started, or it
    // would resolve before the counts it asked for are on disk. A failed flush put its counts back, so retry them.
    while (flushing) await flushing.catch(() => undefined);
    if (pendingUsage.size === 0) return;
    const current = commitUsage(applyUsage).then(() => undefined);
    flushing = current;
    try {
      await current;
    } finally {
      if (flushing === current) flushing = null;
    }
  }

  function requireProvider(provider: string): void {
    assertProviderName(provider);
  }

  function noCredentialError(provider: string, doc: PoolDocument, options: SelectOptions): PoolError {
    const at = now();
    const credentials = orderCredentials(providerOf(doc, provider)?.credentials ?? []);
    if (credentials.length === 0) {
      return new PoolError(
        "E_NO_CREDENTIAL",
        `No credentials for provider "${provider}". Add one with \`credpool add ${provider}\`.`,
        { details: { provider, credentials: [] } },
      );
    }
    const checks = credentials.map((credential) => checkAvailability(credential, at, { ...options, extraLeases: extraLeasesOf(credential, doc) }));
    const reasons = credentials.map((credential, index) => {
      const reason = checks[index];
      return {
        id: credential.id,
        label: credential.label,
        reason: reason ? describeUnavailability(reason, at) : "available",
        until: reason && "until" in reason ? reason.until : undefined,
      };
    });
    // The credential that recovers first sets the hint; a dead one or one without a secret never does.
    let soonest: Extract<Unavailability, { until: number }> | undefined;
    for (const check of checks) {
      if (check && "until" in check && (!soonest || check.until < soonest.until)) soonest = check;
    }
    const retryAfterMs = soonest ? Math.max(0, soonest.until - at) : undefined;
    const last = lastNoCredentialLog.get(provider) ?? 0;
    if (at - last >= NO_CREDENTIAL_LOG_INTERVAL_MS) {
      lastNoCredentialLog.set(provider, at);
      emit({ event: "pool.no_credential", provider, retryAfterMs, reasons: reasons.map((r) => `${r.label}: ${r.reason}`) });
    }
    const summary = reasons.map((entry) => `${entry.label}: ${entry.reason}`).join("; ");
    const seconds = Math.ceil((retryAfterMs ?? 0) / 1000);
    const when =
      retryAfterMs === undefined
        ? "none will recover on its own"
        : soonest?.kind === "at_capacity"
          ? `every lease is taken; retry in ${seconds}s`
          : `next one frees up in ${seconds}s`;
    return new PoolError("E_NO_CREDENTIAL", `No ${provider} credential is available (${when}). ${summary}.`, {
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      details: { provider, credentials: reasons },
    });
  }

  /** Leases this process holds that `doc` does not show yet (persisted ones appear once committed). */
  function extraLeasesOf(credential: Credential, doc: PoolDocument): number {
    if (credential.maxConcurrent === undefined) return 0;
    const recorded = new Set((findCredential(doc, credential.id)?.leases ?? []).map((lease) => lease.id));
    let extra = 0;
    for (const lease of localLeases.values()) {
      if (lease.credentialId === credential.id && lease.persisted && !recorded.has(lease.id)) extra++;
    }
    return extra;
  }

  /**
   * The snapshot's credentials in selection order, sorted once per committed document instead of on every
   * select(). Only for the watched snapshot, which is never mutated; transaction drafts are, so they are sorted
   * afresh. See bench/groups/select.mjs (select.hot.ops_per_s).
   */
  const orderedCache = new WeakMap<readonly Credential[], Credential[]>();
  function orderedOf(doc: PoolDocument, credentials: readonly Credential[]): Credential[] {
    if (doc !== snapshot.doc) return orderCredentials(credentials);
    let ordered = orderedCache.get(credentials);
    if (!ordered) {
      ordered = orderCredentials(credentials);
      orderedCache.set(credentials, ordered);
    }
    return ordered;
  }

  function choose(doc: PoolDocument, provider: string, options: SelectOptions, at: number) {
    const pool = providerOf(doc, provider);
    return chooseCredential(pool?.strategy ?? DEFAULT_STRATEGY, {
      ordered: orderedOf(doc, pool?.credentials ?? []),
      cursor: pool?.cursor ?? 0,
      requestsOf,
      isAvailable: (credential) => {
        // This runs for every credential on every select(): no allocation unless the credential is capped.
        const extraLeases = extraLeasesOf(credential, doc);
        return checkAvailability(credential, at, extraLeases === 0 ? options : { ...options, extraLeases }) === undefined;
      },
    });
  }

  function hasFullCap(doc: PoolDocument, provider: string, options: SelectOptions, at: number): boolean {
    return (providerOf(doc, provider)?.credentials ?? []).some(
      (credential) =>
        checkAvailability(credential, at, { ...options, extraLeases: extraLeasesOf(credential, doc) })?.kind ===
        "at_capacity",
    );
  }

  function select(provider: string, options: SelectOptions = {}): Credential {
    requireProvider(provider);
    const doc = snapshot.doc;
    const choice = choose(doc, provider, options, now());
    if (!choice) throw noCredentialError(provider, doc, options);
    return choice.credential;
  }

  const leaseControl: LeaseControl = { renew: renewLease, release: releaseLease };

  function buildLease(credential: Credential, local: LocalLease): Lease {
    const token = tokenOf(credential);
    if (!token) {
      throw new PoolError(
        "E_NO_CREDENTIAL",
        `Credential ${credential.label} (${credential.id}) has no usable token; run \`credpool refresh ${credential.id}\`.`,
      );
    }
    return new Lease(credential, token, local, leaseControl);
  }

  /**
   * A credential whose refresh fails (it went dead, or its endpoint is backing off) is skipped for the next one,
   * so one bad account costs the caller nothing while another can serve.
   */
  async function lease(provider: string, request: LeaseOptions = {}): Promise<Lease> {
    const exclude = [...(request.exclude ?? [])];
    let refreshError: Error | undefined;
    for (;;) {
      try {
        return await leaseOnce(provider, { ...request, exclude });
      } catch (error) {
        if (error instanceof RefreshFailure) {
          refreshError ??= error.cause instanceof Error ? error.cause : error;
          exclude.push(error.credentialId);
          continue;
        }
        // Nothing else can serve: the refresh failure says more than "excluded".
        if (refreshError !== undefined && isPoolError(error, "E_NO_CREDENTIAL")) throw refreshError;
        throw error;
      }
    }
  }

  async function leaseOnce(provider: string, request: LeaseOptions = {}): Promise<Lease> {
    if (closed) throw new PoolError("E_CLOSED", "The pool is closed.");
    requireProvider(provider);
    const ttlMs = request.ttlMs ?? config.defaultLeaseTtlMs;
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      throw new PoolError("E_INVALID_INPUT", `Invalid lease ttlMs ${String(request.ttlMs)}: use a positive integer.`);
    }
    const startedAt = now();
    const choice = choose(snapshot.doc, provider, request, startedAt);
    // The snapshot can lag another process's release by a few milliseconds, so a full cap is re-checked on fresh
    // state before refusing (see test/gateway/two-gateways.test.ts).
    if (!choice && !hasFullCap(snapshot.doc, provider, request, startedAt)) {
      throw noCredentialError(provider, snapshot.doc, request);
    }

    let credential = choice?.credential;
    let local: LocalLease;
    const persist = request.persist === true || request.detached === true;
    const strategy = providerOf(snapshot.doc, provider)?.strategy ?? DEFAULT_STRATEGY;
    // Round robin commits its cursor with every lease. A cursor advanced in memory and flushed in batches let
    // processes that lease at the same moment all take the same credential. See test/pool/round-robin.test.ts.
    if (credential && credential.maxConcurrent === undefined && !persist && strategy !== "round_robin") {
      // Fast path: uncapped credentials need no lease record, only batched usage.
      local = {
        id: randomId(10),
        provider,
        credentialId: credential.id,
        startedAt,
        expiresAt: startedAt + ttlMs,
        persisted: false,
        model: request.model,
        released: false,
      };
    } else {
      // Capped (or round robin): the cap holds across processes only if the choice and the lease record commit
      // together, and the cursor rotates across processes only if it advances in the same transaction.
      const id = randomId(10);
      let chosen: Credential | undefined;
      let failure: PoolError | undefined;
      const committed = await backend.update((doc) => {
        const at = now();
        chosen = undefined;
        failure = undefined;
        for (const item of providerOf(doc, provider)?.credentials ?? []) {
          if (item.leases) item.leases = liveLeases(item, at);
        }
        const fresh = choose(doc, provider, request, at);
        if (!fresh) {
          failure = noCredentialError(provider, doc, request);
          return;
        }
        chosen = fresh.credential;
        if (fresh.cursorAdvance > 0) {
          const pool = providerOf(doc, provider);
          if (pool) pool.cursor = (pool.cursor ?? 0) + fresh.cursorAdvance;
        }
        if (chosen.maxConcurrent !== undefined || persist) {
          chosen.leases = [
            ...(chosen.leases ?? []),
            { id, startedAt: at, expiresAt: at + ttlMs, holder, ...(request.model ? { model: request.model } : {}) },
          ];
        }
      });
      if (failure) throw failure;
      const fresh = chosen ? findCredential(committed, chosen.id) : undefined;
      if (!fresh) throw noCredentialError(provider, committed, request);
      credential = fresh;
      local = {
        id,
        provider,
        credentialId: credential.id,
        startedAt,
        expiresAt: startedAt + ttlMs,
        persisted: credential.maxConcurrent !== undefined || persist,
        detached: request.detached === true,
        model: request.model,
        released: false,
      };
    }
    const usage = usageOf(pendingUsage, credential.id);
    usage.requests++;
    usage.lastUsedAt = startedAt;
    scheduleFlush();
    localLeases.set(local.id, local);
    try {
      // The refresher decides whether the token is due; it never holds the pool lock across its network call.
      if (options.refresher && credential.kind === "oauth") {
        const chosen = credential;
        credential = await options.refresher(pool, chosen).catch((error: unknown) => {
          throw new RefreshFailure(chosen.id, error);
        });
      }
      return buildLease(credential, local);
    } catch (error) {
      await releaseLease(local, "ok", { countOutcome: false }).catch(() => undefined);
      throw error;
    }
  }

  async function renewLease(local: LocalLease, ttlMs = config.defaultLeaseTtlMs): Promise<void> {
    if (local.released) throw new PoolError("E_NOT_FOUND", `Lease ${local.id} was already released.`);
    const expiresAt = now() + ttlMs;
    if (local.persisted) {
      let found = false;
      await backend.update((doc) => {
        const record = findCredential(doc, local.credentialId)?.leases?.find((lease) => lease.id === local.id);
        found = record !== undefined && record.expiresAt > now();
        if (record && found) record.expiresAt = expiresAt;
      });
      if (!found) throw new PoolError("E_NOT_FOUND", `Lease ${local.id} has expired; take a new one.`);
    }
    local.expiresAt = expiresAt;
  }

  async function releaseLease(
    local: LocalLease,
    outcome: LeaseOutcome,
    { countOutcome = true }: { countOutcome?: boolean } = {},
  ): Promise<void> {
    if (local.released) return;
    local.released = true;
    localLeases.delete(local.id);
    const failure = outcome === "ok" ? undefined : outcome.error;
    if (!failure) {
      if (countOutcome) {
        const usage = usageOf(pendingUsage, local.credentialId);
        usage.succeeded = true;
        if (local.model) usage.succeededModels.add(local.model);
      }
      if (local.persisted) {
        await backend.update((doc) => removeLeaseRecord(doc, local));
      } else {
        scheduleFlush();
      }
      return;
    }
    usageOf(pendingUsage, local.credentialId).failures++;
    // Health changes are committed at once (other processes must stop using the credential), with pending usage.
    await commitFailure(local.credentialId, failure, local.startedAt, local);
  }

  function removeLeaseRecord(doc: PoolDocument, local: LocalLease): void {
    const credential = findCredential(doc, local.credentialId);
    if (credential?.leases) credential.leases = credential.leases.filter((lease) => lease.id !== local.id);
  }

  async function commitFailure(
    credentialId: string,
    failure: FailureReport,
    observedAt: number,
    local?: LocalLease,
  ): Promise<PoolDocument> {
    return commitUsage((doc, usage) => {
      applyUsage(doc, usage);
      if (local?.persisted) removeLeaseRecord(doc, local);
      const credential = findCredential(doc, credentialId);
      if (!credential) return;
      applyFailure(doc, credential, failure, observedAt);
    });
  }

  function applyFailure(doc: PoolDocument, credential: Credential, failure: FailureReport, observedAt: number): void {
    const at = now();
    // An explicit reset after this request began wins over the request's stale failure.
    if (credential.statusClearedAt !== undefined && observedAt <= credential.statusClearedAt) return;
    // Only a rate limit is per model: a billing 429 (insufficient_quota) naming a model fails every model alike.
    const perModel = failure.model !== undefined && classifyFailure(failure) === "rate_limit";
    // "Sole credential" means for the request that failed: others benched for this model cannot stand in for it.
    const others = (providerOf(doc, credential.provider)?.credentials ?? []).filter(
      (other) =>
        other.id !== credential.id && checkAvailability(other, at, perModel ? { model: failure.model } : {}) === undefined,
    );
    const current = perModel ? findModelCooldown(credential, failure.model, at) ?? latestModelStatus(credential, failure.model) : credential.status;
    const next = computeFailureStatus(failure, { now: at, current, soleCredential: others.length === 0, config: config.health });
    if (!next || next === current) return;
    if (perModel && next.state === "exhausted") {
      // Other models' entries stay even once expired: they carry those models' 429 ladders, which only a success on
      // that model ends (clearExpiredCooldowns), as the credential's own status does.
      credential.modelCooldowns = [...(credential.modelCooldowns ?? []).filter((status) => status.model !== failure.model), next];
    } else {
      credential.status = next;
    }
    emit({
      event: "pool.credential_status",
      provider: credential.provider,
      credentialId: credential.id,
      state: next.state,
      reason: next.reason,
      until: next.until,
      model: next.model,
    });
  }

  function latestModelStatus(credential: Credential, model: string | undefined) {
    return credential.modelCooldowns?.find((status) => status.model === model);
  }

  async function add(input: AddCredentialInput): Promise<Credential> {
    const parsedInput = addInputSchema.safeParse(input);
    if (!parsedInput.success) throw fromZodError("E_INVALID_INPUT", "Invalid credential", parsedInput.error);
    const value = parsedInput.data;
    requireProvider(value.provider);
    const kind = value.kind ?? (value.secrets.apiKey ? "api_key" : "oauth");
    if (kind === "api_key" && !value.secrets.apiKey) {
      throw new PoolError("E_INVALID_INPUT", "An api_key credential needs secrets.apiKey.");
    }
    if (kind === "oauth" && !value.secrets.accessToken && !value.secrets.refreshToken) {
      throw new PoolError("E_INVALID_INPUT", "An oauth credential needs an access token or a refresh token.");
    }
    if (value.provider.startsWith("custom:") && !value.baseUrl) {
      throw new PoolError("E_INVALID_INPUT", `Provider ${value.provider} is a custom endpoint: pass its base URL.`);
    }
    let created: Credential | undefined;
    await backend.update((doc) => {
      const pool = (doc.providers[value.provider] ??= { credentials: [] });
      const ids = new Set(listCredentials(doc).map((credential) => credential.id));
      let id = randomId(8);
      while (ids.has(id)) id = randomId(8);
      const labels = new Set(pool.credentials.map((credential) => credential.label.toLowerCase()));
      let label = value.label;
      if (label && labels.has(label.toLowerCase())) {
        throw new PoolError(
          "E_CONFLICT",
          `Provider ${value.provider} already has a credential labelled "${label}"; choose another --label.`,
        );
      }
      if (!label) {
        let n = pool.credentials.length + 1;
        while (labels.has(`${value.provider.replace(/^custom:/, "")}-${n}`)) n++;
        label = `${value.provider.replace(/^custom:/, "")}-${n}`;
      }
      const priority =
        value.priority ?? pool.credentials.reduce((max, credential) => Math.max(max, credential.priority + 1), 0);
      created = {
        ...(value.extra ?? {}),
        id,
        label,
        provider: value.provider,
        kind,
        priority,
        source: value.source ?? "manual",
        ...(value.baseUrl ? { baseUrl: value.baseUrl } : {}),
        secrets: value.secrets,
        tokenGeneration: 0,
        status: { state: "ok" },
        usage: { requests: 0, failures: 0 },
        ...(value.maxConcurrent ? { maxConcurrent: value.maxConcurrent } : {}),
        createdAt: now(),
      };
      pool.credentials.push(created);
    });
    if (!created) throw new PoolError("E_POOL_IO", "The credential was not added.");
    return created;
  }

  async function mutateTarget(target: string, fn: (credential: Credential, doc: PoolDocument) => void): Promise<Credential> {
    const id = resolveTarget(snapshot.doc, target).id;
    let result: Credential | undefined;
    await backend.update((doc) => {
      const credential = findCredential(doc, id);
      if (!credential) throw new PoolError("E_NOT_FOUND", `Credential ${target} was removed by another process.`);
      fn(credential, doc);
      result = credential;
    });
    if (!result) throw new PoolError("E_NOT_FOUND", `Credential ${target} not found.`);
    return result;
  }

  async function remove(target: string): Promise<Credential> {
    return mutateTarget(target, (credential, doc) => {
      const pool = providerOf(doc, credential.provider);
      if (pool) pool.credentials = pool.credentials.filter((item) => item.id !== credential.id);
    });
  }

  async function setPriority(target: string, priority: number): Promise<Credential> {
    if (!Number.isInteger(priority)) throw new PoolError("E_INVALID_INPUT", `Priority must be an integer, got ${priority}.`);
    return mutateTarget(target, (credential) => {
      credential.priority = priority;
    });
  }

  async function setStrategy(provider: string, strategy: Strategy): Promise<void> {
    requireProvider(provider);
    const parsedStrategy = strategySchema.safeParse(strategy);
    if (!parsedStrategy.success) {
      throw new PoolError(
        "E_INVALID_INPUT",
        `Unknown strategy "${String(strategy)}": use one of ${strategySchema.options.join(", ")}.`,
      );
    }
    await backend.update((doc) => {
      const pool = (doc.providers[provider] ??= { credentials: [] });
      pool.strategy = parsedStrategy.data;
    });
  }

  async function reset(provider: string, target?: string): Promise<Credential[]> {
    requireProvider(provider);
    const targetId = target === undefined ? undefined : resolveTarget(snapshot.doc, target).id;
    const touched: Credential[] = [];
    await backend.update((doc) => {
      touched.length = 0;
      const at = now();
      for (const credential of providerOf(doc, provider)?.credentials ?? []) {
        if (targetId !== undefined && credential.id !== targetId) continue;
        credential.status = { state: "ok", since: at };
        delete credential.modelCooldowns;
        credential.statusClearedAt = at;
        touched.push(credential);
      }
    });
    if (targetId !== undefined && touched.length === 0) {
      throw new PoolError("E_NOT_FOUND", `Credential ${target} is not a ${provider} credential.`);
    }
    return touched;
  }

  async function report(target: string, outcome: LeaseOutcome): Promise<Credential> {
    const credential = resolveTarget(snapshot.doc, target);
    const at = now();
    if (outcome === "ok") {
      const usage = usageOf(pendingUsage, credential.id);
      usage.requests++;
      usage.lastUsedAt = at;
      usage.succeeded = true;
      await flush();
    } else {
      const usage = usageOf(pendingUsage, credential.id);
      usage.requests++;
      usage.failures++;
      usage.lastUsedAt = at;
      await commitFailure(credential.id, outcome.error, at);
    }
    return findCredential(snapshot.doc, credential.id) ?? credential;
  }

  async function releaseById(leaseId: string, outcome: LeaseOutcome = "ok"): Promise<Credential> {
    const local = localLeases.get(leaseId);
    if (local) {
      await releaseLease(local, outcome);
      return findCredential(snapshot.doc, local.credentialId) ?? resolveTarget(snapshot.doc, local.credentialId);
    }
    let found: Credential | undefined;
    const at = now();
    await backend.update((doc) => {
      found = undefined;
      for (const credential of listCredentials(doc)) {
        const record = credential.leases?.find((lease) => lease.id === leaseId);
        if (!record) continue;
        found = credential;
        credential.leases = (credential.leases ?? []).filter((lease) => lease.id !== leaseId);
        if (outcome === "ok") {
          clearExpiredCooldowns(credential, at, new Set(record.model ? [record.model] : []));
        } else {
          credential.usage.failures++;
          applyFailure(doc, credential, outcome.error, record.startedAt);
        }
        return;
      }
    });
    if (!found) {
      throw new PoolError("E_NOT_FOUND", `No active lease ${leaseId}: it was released already or its TTL lapsed.`);
    }
    return found;
  }

  function list(provider?: string): CredentialView[] {
    return listCredentialViews(snapshot.doc, now(), provider);
  }

  async function close(): Promise<void> {
    if (closed) return;
    clearTimeout(flushTimer);
    flushTimer = undefined;
    // Graceful close loses nothing: flush counters, then drop this process's persisted leases.
    await flush();
    closed = true;
    const persisted = [...localLeases.values()].filter((lease) => lease.persisted && !lease.detached);
    if (persisted.length > 0) {
      await backend
        .update((doc) => {
          for (const lease of persisted) removeLeaseRecord(doc, lease);
        })
        .catch(() => undefined);
    }
    localLeases.clear();
    snapshot.close();
    if (!options.backend) await backend.close();
  }

  const pool: Pool = {
    backend,
    get doc() {
      return snapshot.doc;
    },
    list,
    resolve: (target) => resolveTarget(snapshot.doc, target),
    add,
    remove,
    setPriority,
    setStrategy,
    reset,
    report,
    select,
    lease,
    releaseLease: releaseById,
    update: (fn) => backend.update(fn),
    onChange: (listener) => snapshot.onChange(listener),
    flush,
    close,
  };
  return pool;
}
