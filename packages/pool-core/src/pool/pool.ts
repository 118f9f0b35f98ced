// The pool: credential CRUD and in-memory selection from the watched snapshot, wired to the usage ledger
// (usage-ledger.ts), leases (leases.ts), new-credential defaults (credential-defaults.ts) and health transitions
// (health-transitions.ts).
import { hostname } from "node:os";
import { PoolError, isPoolError } from "../errors.js";
import { randomId } from "../ids.js";
import type { DocumentChange } from "../store/backend.js";
import { createFileBackend, type FileBackendOptions } from "../store/file-backend.js";
import type { PoolBackend } from "../store/index.js";
import {
  secretReleaseOf,
  secretReleaseSchema,
  strategySchema,
  type Credential,
  type PoolDocument,
  type ProviderPool,
  type SecretRelease,
  type Strategy,
} from "../store/schema.js";
import { openSnapshot, type Snapshot } from "../store/snapshot.js";
import { checkAvailability, describeUnavailability, liveLeases, type Unavailability } from "./availability.js";
import { insertNewCredential, parseAddInput, type AddCredentialInput } from "./credential-defaults.js";
import type { FailureReport, HealthConfig } from "./health.js";
import { applyFailure as applyFailureStatus, clearExpiredCooldowns, clearStatus } from "./health-transitions.js";
import {
  addLeaseRecord,
  buildLease as buildLeaseWith,
  createLocalLeases,
  removeLeaseRecord,
  renewLocalLease,
  takeLeaseRecord,
  type Lease,
  type LeaseControl,
  type LeaseOutcome,
  type LocalLease,
} from "./leases.js";
import { parsePoolOptions } from "./pool-options.js";
import { headroomOf, quotaFromReading } from "./quota-store.js";
import type { QuotaReading } from "./quota-windows.js";
import { sanitizeLabelText } from "./sanitize.js";
import { assertProviderName } from "./providers.js";
import { chooseCredential, orderCredentials } from "./strategy.js";
import { findCredential, resolveTarget } from "./targets.js";
import { createUsageLedger } from "./usage-ledger.js";
import { listCredentialViews, type CredentialView } from "./views.js";

export type { AddCredentialInput } from "./credential-defaults.js";
export type { Lease, LeaseOutcome } from "./leases.js";
export type { CredentialView } from "./views.js";

export const DEFAULT_STRATEGY: Strategy = "fill_first";
const NO_CREDENTIAL_LOG_INTERVAL_MS = 30_000;

export interface PoolEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Refreshes an OAuth credential that is due; returns the credential with a usable access token. */
export type CredentialRefresher = (pool: Pool, credential: Credential) => Promise<Credential>;

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

export interface SelectOptions {
  model?: string;
  exclude?: readonly string[];
  /**
   * Take this credential (by id) if it can serve under the normal rules (not excluded, benched, dead or at its
   * cap); otherwise the provider's strategy chooses as usual. The proxy's session affinity uses it.
   */
  prefer?: string;
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
  /**
   * The caller uses the token itself and never hands it on (the gateway's proxy). Only such leases are granted
   * when the pool's settings.secrets.release is "never".
   */
  inProcess?: boolean;
}

export interface Pool {
  readonly backend: PoolBackend;
  /** The newest document seen (watched). Treat as read-only. */
  readonly doc: PoolDocument;
  list(provider?: string): CredentialView[];
  resolve(target: string): Credential;
  add(input: AddCredentialInput): Promise<Credential>;
  remove(target: string): Promise<Credential>;
  setPriority(target: string, priority: number): Promise<Credential>;
  /** Disables (never selected) or enables a credential; its status and cooldown are left as they are. */
  setDisabled(target: string, disabled: boolean): Promise<Credential>;
  setStrategy(provider: string, strategy: Strategy): Promise<void>;
  /** Sets settings.secrets.release, which every process that opens this document obeys. */
  setSecretRelease(mode: SecretRelease): Promise<void>;
  /** Clears cooldowns (and dead states) on one credential, or on every credential of `provider`. */
  reset(provider: string, target?: string): Promise<Credential[]>;
  /** Records an outcome for a request made outside a lease (e.g. `credpool report`). */
  report(target: string, outcome: LeaseOutcome): Promise<Credential>;
  select(provider: string, options?: SelectOptions): Credential;
  lease(provider: string, options?: LeaseOptions): Promise<Lease>;
  /** Releases a persisted lease by id, from any process. */
  releaseLease(leaseId: string, outcome?: LeaseOutcome): Promise<Credential>;
  /**
   * Records the quota windows an upstream response reported (`parseQuotaWindows`), observed at `observedAt`
   * (now by default). Written with the next batched usage flush; a newer observation of a window wins.
   */
  observeQuota(credentialId: string, reading: QuotaReading, observedAt?: number): void;
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

export async function openPool(options: PoolOptions = {}): Promise<Pool> {
  const config = parsePoolOptions(options);
  const now = options.now ?? Date.now;
  const holder = sanitizeLabelText(options.holder ?? `${hostname()}:${process.pid}`);
  const backend = options.backend ?? createFileBackend(options.file);
  const snapshot: Snapshot<PoolDocument> = await openSnapshot(backend);

  const ledger = createUsageLedger({
    backend,
    now,
    flushMs: config.usageFlushMs,
    onFlushError: (error: unknown) => emit({ event: "pool.flush_failed", error: (error as Error).message }),
  });
  const localLeases = createLocalLeases();
  const { extraLeasesOf } = localLeases;
  const lastNoCredentialLog = new Map<string, number>();
  let closed = false;

  const emit = (event: PoolEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // An observer's failure is not the pool's.
    }
  };

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
    const checks = credentials.map((credential) =>
      checkAvailability(credential, at, { ...options, extraLeases: extraLeasesOf(credential, doc) }),
    );
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
      emit({
        event: "pool.no_credential",
        provider,
        retryAfterMs,
        reasons: reasons.map((r) => `${r.label}: ${r.reason}`),
      });
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
      requestsOf: ledger.requestsOf,
      prefer: options.prefer,
      headroomOf: (credential) => headroomOf(ledger.quotaOf(credential), at),
      isAvailable: (credential) => {
        // This runs for every credential on every select(): no allocation unless the credential is capped.
        const extraLeases = extraLeasesOf(credential, doc);
        return (
          checkAvailability(credential, at, extraLeases === 0 ? options : { ...options, extraLeases }) === undefined
        );
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
    return buildLeaseWith(credential, local, leaseControl);
  }

  /**
   * A credential whose refresh fails (it went dead, or its endpoint is backing off) is skipped for the next one,
   * so one bad account costs the caller nothing while another can serve.
   */
  async function lease(provider: string, request: LeaseOptions = {}): Promise<Lease> {
    if (request.inProcess !== true && secretReleaseOf(snapshot.doc) === "never") {
      throw new PoolError(
        "E_SECRETS_NEVER_RELEASED",
        `This pool's keys never leave credpool (settings.secrets.release is "never"): no lease, exec or gateway lease ` +
          "hands out a key. Send requests through the gateway's proxy, or switch with `credpool secrets release lease`.",
        { details: { setting: "settings.secrets.release", value: "never" } },
      );
    }
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

  async function leaseOnce(provider: string, asked: LeaseOptions = {}): Promise<Lease> {
    // The model name comes from a client and is stored in the lease record: no control characters.
    const request = asked.model === undefined ? asked : { ...asked, model: sanitizeLabelText(asked.model) };
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
          addLeaseRecord(chosen, {
            id,
            startedAt: at,
            expiresAt: at + ttlMs,
            holder,
            ...(request.model ? { model: request.model } : {}),
          });
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
    const usage = ledger.usageOf(credential.id);
    usage.requests++;
    usage.lastUsedAt = startedAt;
    localLeases.byId.set(local.id, local);
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
    } finally {
      // Not before the token is settled: processes waiting for another's refresh would each commit their counts
      // while the one commit they all wait for, the new token's, queued behind them. See bench/lib/fanout.mjs.
      ledger.scheduleFlush();
    }
  }

  async function renewLease(local: LocalLease, ttlMs = config.defaultLeaseTtlMs): Promise<void> {
    await renewLocalLease(backend, local, ttlMs, now);
  }

  async function releaseLease(
    local: LocalLease,
    outcome: LeaseOutcome,
    { countOutcome = true }: { countOutcome?: boolean } = {},
  ): Promise<void> {
    if (local.released) return;
    local.released = true;
    localLeases.byId.delete(local.id);
    const failure = outcome === "ok" ? undefined : outcome.error;
    if (!failure) {
      if (countOutcome) {
        const usage = ledger.usageOf(local.credentialId);
        usage.succeeded = true;
        if (local.model) usage.succeededModels.add(local.model);
      }
      if (local.persisted) {
        await backend.update((doc) => removeLeaseRecord(doc, local));
      } else {
        ledger.scheduleFlush();
      }
      return;
    }
    ledger.usageOf(local.credentialId).failures++;
    // Health changes are committed at once (other processes must stop using the credential), with pending usage.
    await commitFailure(local.credentialId, failure, local.startedAt, local);
  }

  async function commitFailure(
    credentialId: string,
    failure: FailureReport,
    observedAt: number,
    local?: LocalLease,
  ): Promise<PoolDocument> {
    return ledger.commitUsage((doc, usage) => {
      ledger.applyUsage(doc, usage);
      if (local?.persisted) removeLeaseRecord(doc, local);
      const credential = findCredential(doc, credentialId);
      if (!credential) return;
      applyFailure(doc, credential, failure, observedAt);
    });
  }

  function applyFailure(doc: PoolDocument, credential: Credential, failure: FailureReport, observedAt: number): void {
    const next = applyFailureStatus(doc, credential, failure, { observedAt, at: now(), config: config.health });
    if (!next) return;
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

  async function add(input: AddCredentialInput): Promise<Credential> {
    const value = parseAddInput(input);
    let created: Credential | undefined;
    await backend.update((doc) => {
      created = insertNewCredential(doc, value, now());
    });
    if (!created) throw new PoolError("E_POOL_IO", "The credential was not added.");
    return created;
  }

  async function mutateTarget(
    target: string,
    fn: (credential: Credential, doc: PoolDocument) => void,
  ): Promise<Credential> {
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
    if (!Number.isInteger(priority))
      throw new PoolError("E_INVALID_INPUT", `Priority must be an integer, got ${priority}.`);
    return mutateTarget(target, (credential) => {
      credential.priority = priority;
    });
  }

  async function setDisabled(target: string, disabled: boolean): Promise<Credential> {
    return mutateTarget(target, (credential) => {
      if (disabled) credential.disabled = true;
      else delete credential.disabled;
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

  async function setSecretRelease(mode: SecretRelease): Promise<void> {
    const parsed = secretReleaseSchema.safeParse(mode);
    if (!parsed.success) {
      throw new PoolError(
        "E_INVALID_INPUT",
        `Unknown secrets.release "${String(mode)}": use one of ${secretReleaseSchema.options.join(", ")}.`,
      );
    }
    await backend.update((doc) => {
      const settings = (doc.settings ??= {});
      settings.secrets = { ...settings.secrets, release: parsed.data };
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
        clearStatus(credential, at);
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
      const usage = ledger.usageOf(credential.id);
      usage.requests++;
      usage.lastUsedAt = at;
      usage.succeeded = true;
      await ledger.flush();
    } else {
      const usage = ledger.usageOf(credential.id);
      usage.requests++;
      usage.failures++;
      usage.lastUsedAt = at;
      await commitFailure(credential.id, outcome.error, at);
    }
    return findCredential(snapshot.doc, credential.id) ?? credential;
  }

  async function releaseById(leaseId: string, outcome: LeaseOutcome = "ok"): Promise<Credential> {
    const local = localLeases.byId.get(leaseId);
    if (local) {
      await releaseLease(local, outcome);
      return findCredential(snapshot.doc, local.credentialId) ?? resolveTarget(snapshot.doc, local.credentialId);
    }
    let found: Credential | undefined;
    const at = now();
    await backend.update((doc) => {
      found = undefined;
      const taken = takeLeaseRecord(doc, leaseId);
      if (!taken) return;
      const { credential, record } = taken;
      found = credential;
      if (outcome === "ok") {
        clearExpiredCooldowns(credential, at, new Set(record.model ? [record.model] : []));
      } else {
        credential.usage.failures++;
        applyFailure(doc, credential, outcome.error, record.startedAt);
      }
    });
    if (!found) {
      throw new PoolError("E_NOT_FOUND", `No active lease ${leaseId}: it was released already or its TTL lapsed.`);
    }
    return found;
  }

  function observeQuota(credentialId: string, reading: QuotaReading, observedAt = now()): void {
    if (closed) return;
    const quota = quotaFromReading(reading, observedAt);
    if (quota) ledger.observeQuota(credentialId, quota);
  }

  function list(provider?: string): CredentialView[] {
    return listCredentialViews(snapshot.doc, now(), provider);
  }

  async function close(): Promise<void> {
    if (closed) return;
    // Graceful close loses nothing: flush counters, then drop this process's persisted leases.
    await ledger.close();
    closed = true;
    const persisted = [...localLeases.byId.values()].filter((lease) => lease.persisted && !lease.detached);
    if (persisted.length > 0) {
      await backend
        .update((doc) => {
          for (const lease of persisted) removeLeaseRecord(doc, lease);
        })
        .catch(() => undefined);
    }
    localLeases.byId.clear();
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
    setDisabled,
    setStrategy,
    setSecretRelease,
    reset,
    report,
    select,
    lease,
    releaseLease: releaseById,
    observeQuota,
    update: (fn) => backend.update(fn),
    onChange: (listener) => snapshot.onChange(listener),
    flush: ledger.flush,
    close,
  };
  return pool;
}
