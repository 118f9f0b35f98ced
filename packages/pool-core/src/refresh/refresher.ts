// Single-flight OAuth refresh across processes: the credential's own lock, a re-read, one POST, a compare-and-swap
// commit. Single-use refresh tokens are never sent twice by credpool. See DESIGN.md "Refresh protocol" and
// test/refresh/single-flight.test.ts, kill-mid-refresh.test.ts, timeout.test.ts.
import { hostname } from "node:os";
import { z } from "zod";
import { PoolError, errnoCode, isPoolError } from "../errors.js";
import { parseOptions } from "../options.js";
import { findCredential, type CredentialRefresher, type Pool, type PoolEvent } from "../pool/index.js";
import type { NamedLock, PoolBackend } from "../store/index.js";
import type { Credential, PoolDocument } from "../store/schema.js";
import {
  adapterOptionsSchema,
  applyGrant,
  resolveTokenEndpoint,
  skewFor,
  type AdapterOptions,
  type TokenEndpoint,
} from "./adapters.js";
import { postRefreshRequest, type TokenCallResult } from "./token-request.js";
import {
  describeCredential,
  fingerprintToken,
  inFlightMarkerOf,
  isAccessTokenExpired,
  isClearedByNewTokens,
  isRefreshDue,
  ownershipOf,
  refreshLockName,
  refreshStateOf,
  reloginAdvice,
  rememberUsedToken,
  sourceLinkOf,
  updateRefreshState,
  type RefreshInFlight,
} from "./token-state.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** Lets the refresher reach the external files credentials are linked to (implemented by sources/). */
export interface SourceLinks {
  /** Re-reads the credential's source file and commits a newer token pair if it has one; returns the fresh copy. */
  reload(backend: PoolBackend, credential: Credential): Promise<Credential | undefined>;
  /** Writes the committed pair back to the source file, replacing only a refresh token the pool has used. */
  writeBack(credential: Credential): Promise<void>;
}

// Also the `refresh` section of config.json. The factory refuses unknown keys (parseOptions); config.json only warns
// about them, so a file written for a newer build still loads (config/load-config.ts).
export const refresherConfigSchema = z.object({
  /** Per-provider endpoint settings, keyed by provider name (anthropic, openai-codex, custom:idp, ...). */
  providers: z.record(z.string(), adapterOptionsSchema).optional(),
  /** One token request; past it the outcome is unknown. CREDPOOL_REFRESH_TIMEOUT_MS overrides it. */
  timeoutMs: z.number().int().positive().max(300_000).optional(),
  /** Waiting for another process's refresh of the same credential. Defaults to timeoutMs + 15 s. */
  lockTimeoutMs: z.number().int().positive().max(600_000).optional(),
  /** Backoff after 429/5xx when the endpoint gives no Retry-After: base * 2^(strikes-1), capped. */
  backoffBaseMs: z
    .number()
    .int()
    .positive()
    .default(10 * SECOND),
  backoffMaxMs: z
    .number()
    .int()
    .positive()
    .default(15 * MINUTE),
  /** After a refusal that is not the token's fault (bad client id), wait this long before trying again. */
  rejectedBackoffMs: z
    .number()
    .int()
    .positive()
    .default(15 * MINUTE),
  /** A borrowed credential found expired is benched this long, unless its file brings a new token sooner. */
  borrowedRecheckMs: z
    .number()
    .int()
    .positive()
    .default(5 * MINUTE),
});
export type RefresherConfig = z.input<typeof refresherConfigSchema>;

export interface RefresherOptions extends RefresherConfig {
  env?: NodeJS.ProcessEnv;
  fetch?: typeof globalThis.fetch;
  /** Needed for credentials linked to Claude Code / Codex files; see createSourceLinks(). */
  links?: SourceLinks;
  onEvent?: (event: PoolEvent) => void;
  now?: () => number;
}

export interface RefreshRequest {
  /** Refresh even when the token is not due (a token that another process just rotated is adopted instead). */
  force?: boolean;
  /** The copy the caller decided on; a newer generation found under the lock is adopted without a request. */
  seen?: Credential;
}

export interface RefreshResult {
  readonly credential: Credential;
  /** fresh: nothing to do; refreshed: this call rotated the pair; adopted: a newer pair from another process or file. */
  readonly outcome: "fresh" | "refreshed" | "adopted";
}

export interface Refresher {
  /** For `openPool({ refresher })`: returns the credential with a usable access token, refreshing when due. */
  readonly ensureFresh: CredentialRefresher;
  refresh(backend: PoolBackend, credentialId: string, request?: RefreshRequest): Promise<RefreshResult>;
  isDue(credential: Credential, now?: number): boolean;
  endpointFor(credential: Credential): TokenEndpoint;
}

/** How often one process re-reads a borrowed credential's file while its token is due. */
const BORROWED_RELOAD_INTERVAL_MS = 2 * SECOND;
const COMMIT_ATTEMPTS = 5;
/** Backoff between tries for a busy refresh lock; a commit by the holder ends the wait early. */
const LOCK_RETRY_MIN_MS = 10;
const LOCK_RETRY_MAX_MS = 100;
/**
 * The same with a watched pool, where a commit wakes the waiter: a try costs a dozen filesystem calls, and with 120
 * waiters, tries before the holder's in-flight marker was seen took CPU the holder needed.
 */
const WATCHED_LOCK_RETRY_MIN_MS = 50;
const WATCHED_LOCK_RETRY_MAX_MS = 250;
/**
 * Between tries while the watched pool shows another live process's request in flight: its commit, or its failure
 * record, wakes the waiter at once; this slow poll only covers a holder that died.
 */
const LOCK_RETRY_IN_FLIGHT_MS = 1000;

function tokensChanged(before: Credential, after: Credential): boolean {
  return (
    before.tokenGeneration !== after.tokenGeneration ||
    before.secrets.refreshToken !== after.secrets.refreshToken ||
    before.secrets.accessToken !== after.secrets.accessToken
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

function timeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.CREDPOOL_REFRESH_TIMEOUT_MS?.trim();
  if (!raw) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) {
    throw new PoolError(
      "E_INVALID_OPTIONS",
      `CREDPOOL_REFRESH_TIMEOUT_MS must be a positive number of milliseconds, got "${raw}".`,
    );
  }
  return Number(raw);
}

export function createRefresher(options: RefresherOptions = {}): Refresher {
  const { env: envOption, fetch: fetchOption, links, onEvent, now: nowOption, ...raw } = options;
  const config = parseOptions(refresherConfigSchema, raw, "refresh options");
  const env = envOption ?? process.env;
  const fetchImpl = fetchOption ?? globalThis.fetch;
  const now = nowOption ?? Date.now;
  const timeoutMs = timeoutFromEnv(env) ?? config.timeoutMs ?? 30 * SECOND;
  const lockTimeoutMs = config.lockTimeoutMs ?? timeoutMs + 15 * SECOND;
  // A live holder of an in-flight marker gets this long past its request timeout to commit what it received.
  const inFlightGraceMs = Math.min(10 * SECOND, Math.max(2 * SECOND, timeoutMs));
  const host = hostname();
  const inflight = new Map<string, Promise<RefreshResult>>();
  const lastReload = new Map<string, number>();

  const emit = (event: PoolEvent): void => {
    try {
      onEvent?.(event);
    } catch {
      // An observer's failure is not the refresher's.
    }
  };

  function adapterOptionsFor(credential: Credential): AdapterOptions | undefined {
    return config.providers?.[credential.provider];
  }

  function isDue(credential: Credential, at = now()): boolean {
    return isRefreshDue(credential, at, skewFor(credential.provider, adapterOptionsFor(credential), env));
  }

  function endpointFor(credential: Credential): TokenEndpoint {
    return resolveTokenEndpoint(credential.provider, adapterOptionsFor(credential), env);
  }

  async function readCredential(backend: PoolBackend, id: string): Promise<Credential> {
    const { doc } = await backend.read();
    const found = findCredential(doc, id);
    if (!found)
      throw new PoolError("E_NOT_FOUND", `Credential ${id} was removed from the pool.`, {
        details: { credentialId: id },
      });
    return found;
  }

  /**
   * One transaction that applies `fn` only while the credential still holds `refreshToken` (and, given `unchanged`,
   * passes it): our CAS.
   */
  async function swap(
    backend: PoolBackend,
    id: string,
    refreshToken: string,
    fn: (credential: Credential) => void,
    unchanged?: (credential: Credential) => boolean,
  ): Promise<{ applied: boolean; credential: Credential | undefined }> {
    let applied = false;
    const doc = await backend.update((draft) => {
      applied = false;
      const credential = findCredential(draft, id);
      if (!credential || credential.secrets.refreshToken !== refreshToken) return;
      if (unchanged && !unchanged(credential)) return;
      fn(credential);
      applied = true;
    });
    return { applied, credential: findCredential(doc, id) };
  }

  function failure(
    credential: Credential,
    message: string,
    extra: { reason: string; retryAfterMs?: number; cause?: unknown },
  ) {
    emit({ event: "refresh.failed", provider: credential.provider, credentialId: credential.id, reason: extra.reason });
    return new PoolError("E_REFRESH_FAILED", message, {
      ...(extra.cause === undefined ? {} : { cause: extra.cause }),
      ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: Math.max(0, Math.round(extra.retryAfterMs)) }),
      details: { credentialId: credential.id, provider: credential.provider, reason: extra.reason },
    });
  }

  /** A failure status is best effort: the caller still gets the refresh error if the pool cannot be written. */
  async function recordFailure(
    backend: PoolBackend,
    credential: Credential,
    refreshToken: string,
    fn: (credential: Credential) => void,
  ): Promise<{ applied: boolean; credential: Credential | undefined }> {
    try {
      return await swap(backend, credential.id, refreshToken, fn);
    } catch (error) {
      emit({ event: "refresh.record_failed", credentialId: credential.id, error: (error as Error).message });
      return { applied: false, credential: undefined };
    }
  }

  function isHolderAlive(marker: RefreshInFlight, at: number): boolean {
    if (at - marker.since > timeoutMs + inFlightGraceMs) return false;
    if (marker.host !== host) return true;
    if (marker.pid === process.pid) return false;
    try {
      process.kill(marker.pid, 0);
      return true;
    } catch (error) {
      return errnoCode(error) === "EPERM";
    }
  }

  /**
   * Another live process sent this refresh token and lost the lock while waiting for the answer (it was paused past
   * the lock's stale time). Its result is coming; sending the same token now would burn the login.
   */
  async function waitForOtherAttempt(
    backend: PoolBackend,
    id: string,
    refreshToken: string,
    marker: RefreshInFlight,
  ): Promise<boolean> {
    const deadline = marker.since + timeoutMs + inFlightGraceMs;
    while (now() < deadline) {
      await sleep(100);
      const current = await readCredential(backend, id);
      const state = refreshStateOf(current);
      if (current.secrets.refreshToken !== refreshToken) return true;
      if (state.inFlight?.since !== marker.since || state.inFlight.pid !== marker.pid) return true;
    }
    return false;
  }

  /** Before declaring a token dead or lost: is there a newer one in the pool, or in the linked source file? */
  async function findNewerPair(
    backend: PoolBackend,
    id: string,
    refreshToken: string,
  ): Promise<Credential | undefined> {
    const current = await readCredential(backend, id);
    if (current.secrets.refreshToken !== refreshToken) return current;
    if (links && sourceLinkOf(current)) {
      const reloaded = await links.reload(backend, current).catch(() => undefined);
      if (reloaded && reloaded.secrets.refreshToken !== refreshToken) return reloaded;
    }
    return undefined;
  }

  async function commitGrant(
    backend: PoolBackend,
    id: string,
    refreshToken: string,
    apply: (credential: Credential) => void,
  ): Promise<{ applied: boolean; credential: Credential | undefined }> {
    // The provider has already rotated: losing this commit loses the login, so transient store errors are retried.
    // Retrying is safe because the commit is a compare-and-swap on the token we sent.
    for (let attempt = 1; ; attempt++) {
      try {
        return await swap(backend, id, refreshToken, apply);
      } catch (error) {
        const transient =
          isPoolError(error, "E_LOCK_TIMEOUT") ||
          isPoolError(error, "E_LOCK_COMPROMISED") ||
          isPoolError(error, "E_POOL_IO");
        if (!transient || attempt >= COMMIT_ATTEMPTS) throw error;
        await sleep(50 * 2 ** attempt);
      }
    }
  }

  async function settle(
    backend: PoolBackend,
    fresh: Credential,
    refreshToken: string,
    result: TokenCallResult,
    interrupted: RefreshInFlight | undefined,
  ): Promise<RefreshResult> {
    const at = now();
    const who = describeCredential(fresh);
    const fp = fingerprintToken(refreshToken);
    const state = refreshStateOf(fresh);
    switch (result.kind) {
      case "granted": {
        const { grant } = result;
        let committed: { applied: boolean; credential: Credential | undefined };
        try {
          committed = await commitGrant(backend, fresh.id, refreshToken, (credential) => {
            credential.secrets = applyGrant(credential.secrets, grant);
            credential.tokenGeneration += 1;
            if (isClearedByNewTokens(credential.status)) {
              credential.status = { state: "ok", since: at };
              // A request still running on the old token must not bench the credential again when it fails.
              credential.statusClearedAt = at;
            }
            updateRefreshState(credential, (next) => {
              if (grant.refreshToken && grant.refreshToken !== refreshToken) rememberUsedToken(next, refreshToken);
              for (const key of [
                "inFlight",
                "backoffUntil",
                "strikes",
                "lastError",
                "unknownTokenFp",
                "rejectedTokenFp",
              ]) {
                delete next[key];
              }
              next.lastRefreshAt = at;
            });
          });
        } catch (error) {
          throw failure(
            fresh,
            `${who}: the provider issued new tokens but they could not be saved to the pool (${(error as Error).message}). ` +
              `The old refresh token is now spent. ${reloginAdvice(fresh)}`,
            { reason: "refresh_commit_failed", cause: error },
          );
        }
        if (!committed.applied) {
          // Someone replaced the pair while we were asking (a re-login synced from the source file): theirs wins.
          emit({ event: "refresh.discarded", provider: fresh.provider, credentialId: fresh.id });
          return { credential: committed.credential ?? (await readCredential(backend, fresh.id)), outcome: "adopted" };
        }
        const credential = committed.credential ?? (await readCredential(backend, fresh.id));
        const link = sourceLinkOf(credential);
        // A login imported from Claude Code's macOS Keychain item is written back to that item.
        const keychain = typeof credential.keychainService === "string" ? `keychain:${credential.keychainService}` : "";
        if (links && (link?.ownership === "own" || keychain)) {
          // Written while we still hold the refresh lock, so no other credpool process rotates again meanwhile.
          await links.writeBack(credential).catch((error: unknown) => {
            emit({
              event: "refresh.write_back_failed",
              credentialId: credential.id,
              path: link?.path ?? keychain,
              error: (error as Error).message,
            });
          });
        }
        emit({
          event: "refresh.refreshed",
          provider: credential.provider,
          credentialId: credential.id,
          generation: credential.tokenGeneration,
        });
        return { credential, outcome: "refreshed" };
      }

      case "terminal": {
        const newer = await findNewerPair(backend, fresh.id, refreshToken);
        if (newer) return { credential: newer, outcome: "adopted" };
        const cause = `${result.reason}${result.message && result.message !== result.reason ? `: ${result.message}` : ""}`;
        const story = interrupted
          ? `An earlier refresh by process ${interrupted.pid} on ${interrupted.host} sent this same token at ${iso(interrupted.since)} ` +
            "and never saved the answer: it died (or lost its lock) after the provider rotated the token and before credpool " +
            "committed the new one. The provider now treats the token as used and has probably revoked the whole login."
          : "The token was used or revoked outside this refresh: another tool refreshed the same login, or a process died " +
            "after the provider rotated the token and before the new one was saved.";
        const message = `${who}: the provider rejected its refresh token (${cause}). ${story} credpool will not send it again. ${reloginAdvice(fresh)}`;
        const recorded = await recordFailure(backend, fresh, refreshToken, (credential) => {
          credential.status = { state: "dead", since: at, reason: result.reason, httpStatus: result.status, message };
          updateRefreshState(credential, (next) => {
            next.rejectedTokenFp = fp;
            rememberUsedToken(next, refreshToken);
            next.lastError = result.reason;
            delete next.inFlight;
          });
        });
        if (!recorded.applied && recorded.credential && recorded.credential.secrets.refreshToken !== refreshToken) {
          return { credential: recorded.credential, outcome: "adopted" };
        }
        throw failure(fresh, message, { reason: result.reason });
      }

      case "unknown": {
        const newer = await findNewerPair(backend, fresh.id, refreshToken);
        if (newer) return { credential: newer, outcome: "adopted" };
        const message =
          `${who}: the refresh request got no usable answer (${result.message}) after its refresh token was sent. ` +
          "The provider may already have rotated that token, and sending it again would then revoke the whole login, so " +
          `credpool will not resend it on its own. ${reloginAdvice(fresh)} If you are sure the request never arrived, ` +
          `run \`credpool refresh ${fresh.label} --force\` to try the old token once.`;
        const recorded = await recordFailure(backend, fresh, refreshToken, (credential) => {
          credential.status = { state: "dead", since: at, reason: "refresh_outcome_unknown", message };
          updateRefreshState(credential, (next) => {
            next.unknownTokenFp = fp;
            next.lastError = result.message;
            delete next.inFlight;
          });
        });
        if (!recorded.applied && recorded.credential && recorded.credential.secrets.refreshToken !== refreshToken) {
          return { credential: recorded.credential, outcome: "adopted" };
        }
        throw failure(fresh, message, { reason: "refresh_outcome_unknown" });
      }

      case "retry_later":
      case "rejected": {
        const strikes = (state.strikes ?? 0) + 1;
        const reason = result.kind === "rejected" ? "refresh_rejected" : result.reason;
        const delay =
          result.kind === "rejected"
            ? config.rejectedBackoffMs
            : Math.min(result.retryAfterMs ?? config.backoffBaseMs * 2 ** (strikes - 1), config.backoffMaxMs * 4);
        const until = at + delay;
        const expired = isAccessTokenExpired(fresh, at);
        const hint =
          result.kind === "rejected" ? ` Check the token URL and client id configured for ${fresh.provider}.` : "";
        const message = `${who}: the token endpoint answered ${result.message}; no process will try again before ${iso(until)}.${hint}`;
        const recorded = await recordFailure(backend, fresh, refreshToken, (credential) => {
          updateRefreshState(credential, (next) => {
            next.backoffUntil = until;
            next.strikes = strikes;
            next.lastError = result.message;
            delete next.inFlight;
          });
          // Only a credential without a working access token needs benching; otherwise it keeps serving meanwhile.
          if (expired && credential.status.state !== "dead") {
            credential.status = {
              state: "exhausted",
              since: at,
              until,
              reason,
              message,
              ...(result.status > 0 ? { httpStatus: result.status } : {}),
            };
          }
        });
        if (!expired) return { credential: recorded.credential ?? fresh, outcome: "fresh" };
        throw failure(fresh, message, { reason, retryAfterMs: delay });
      }
    }
  }

  async function refreshUnderLock(
    backend: PoolBackend,
    seen: Credential,
    force: boolean,
    endpoint: TokenEndpoint,
    lock: NamedLock,
  ): Promise<RefreshResult> {
    let known = seen;
    for (let round = 0; round < 3; round++) {
      const fresh = await readCredential(backend, seen.id);
      const at = now();
      const who = describeCredential(fresh);
      // Someone refreshed (or re-imported) while we waited for the lock: adopt theirs, no request.
      if (tokensChanged(known, fresh) && !isDue(fresh, at)) return { credential: fresh, outcome: "adopted" };
      if (!force && !isDue(fresh, at)) return { credential: fresh, outcome: "fresh" };

      const refreshToken = fresh.secrets.refreshToken;
      if (!refreshToken) {
        throw failure(
          fresh,
          `${who} has no refresh token, so its access token cannot be renewed. ${reloginAdvice(fresh)}`,
          {
            reason: "no_refresh_token",
          },
        );
      }
      const fp = fingerprintToken(refreshToken);
      const state = refreshStateOf(fresh);
      if (state.rejectedTokenFp === fp) {
        // Never loop: a token the provider refused is not sent again, even after `credpool reset`.
        const message = `${who}: the provider already rejected its current refresh token, and credpool never sends a rejected token again. ${reloginAdvice(fresh)}`;
        if (fresh.status.state !== "dead") {
          await recordFailure(backend, fresh, refreshToken, (credential) => {
            credential.status = { state: "dead", since: at, reason: state.lastError ?? "invalid_grant", message };
          });
        }
        throw failure(fresh, message, { reason: "refresh_token_rejected" });
      }
      if (fresh.status.state === "dead" && !force) {
        // Refresh failures already explain themselves; other dead statuses (an import, an API 401) get the advice.
        const told = fresh.status.message;
        const message = told?.includes("credpool ")
          ? told
          : `${who} cannot be refreshed: ${told ? told.replace(/\.?$/, ".") : `it is dead (${fresh.status.reason ?? "unknown reason"}).`} ` +
            `${reloginAdvice(fresh)} ` +
            `To try its refresh token anyway, run \`credpool refresh ${fresh.label} --force\`.`;
        throw failure(fresh, message, { reason: fresh.status.reason ?? "dead" });
      }
      if (!force && (state.backoffUntil ?? 0) > at) {
        if (!isAccessTokenExpired(fresh, at)) return { credential: fresh, outcome: "fresh" };
        const waitMs = (state.backoffUntil ?? at) - at;
        throw failure(
          fresh,
          `${who}: refreshing is backed off until ${iso(state.backoffUntil ?? at)} (${state.lastError ?? "token endpoint unavailable"}).`,
          {
            reason: "refresh_backoff",
            retryAfterMs: waitMs,
          },
        );
      }

      let interrupted: RefreshInFlight | undefined;
      if (state.inFlight && state.inFlight.tokenFp === fp) {
        if (isHolderAlive(state.inFlight, at)) {
          if (await waitForOtherAttempt(backend, seen.id, refreshToken, state.inFlight)) {
            known = fresh;
            continue;
          }
          throw failure(
            fresh,
            `${who}: process ${state.inFlight.pid} on ${state.inFlight.host} is still refreshing it; try again shortly.`,
            {
              reason: "refresh_in_progress",
              retryAfterMs: 5 * SECOND,
            },
          );
        }
        interrupted = state.inFlight;
      }

      // The marker lets the next attempt tell the user exactly what happened if this process dies mid-request.
      const marker: RefreshInFlight = { since: at, host, pid: process.pid, tokenFp: fp };
      // Also a CAS on the refresh state we read: a holder that lost its lock while paused must not overwrite the
      // marker of the process that broke it, nor mark a token another holder has just found dead or rotated.
      // See models/refresh.pml (mutant M_MARKER_TOKEN_ONLY).
      const stateAsRead = JSON.stringify(fresh.refreshState ?? null);
      const marked = await swap(
        backend,
        seen.id,
        refreshToken,
        (credential) => {
          updateRefreshState(credential, (next) => {
            next.inFlight = marker;
          });
        },
        (credential) => JSON.stringify(credential.refreshState ?? null) === stateAsRead,
      );
      if (!marked.applied) {
        known = fresh;
        continue;
      }
      if (lock.signal.aborted) {
        // Nothing was sent yet: step back rather than race whoever broke our lock.
        await recordFailure(backend, fresh, refreshToken, (credential) => {
          updateRefreshState(credential, (next) => {
            if (next.inFlight?.since === marker.since && next.inFlight.pid === marker.pid) delete next.inFlight;
          });
        });
        throw failure(fresh, `${who}: lost the refresh lock before sending; try again.`, {
          reason: "refresh_lock_lost",
          retryAfterMs: SECOND,
        });
      }
      emit({ event: "refresh.started", provider: fresh.provider, credentialId: fresh.id, forced: force });
      // From here on the lock may be lost (the process paused); the commit is still safe because it is a CAS.
      const result = await postRefreshRequest(endpoint, refreshToken, {
        fetch: fetchImpl,
        timeoutMs,
        now,
        previous: fresh.secrets,
      });
      return await settle(backend, fresh, refreshToken, result, interrupted);
    }
    const latest = await readCredential(backend, seen.id);
    throw failure(latest, `${describeCredential(latest)} kept changing while it was being refreshed; try again.`, {
      reason: "refresh_contended",
      retryAfterMs: SECOND,
    });
  }

  async function refreshBorrowed(backend: PoolBackend, seen: Credential, force: boolean): Promise<RefreshResult> {
    const at = now();
    if (!force && !isDue(seen, at)) return { credential: seen, outcome: "fresh" };
    const link = sourceLinkOf(seen);
    const key = `${backend.location}\n${seen.id}`;
    let fresh: Credential | undefined;
    if (links && link && (force || at - (lastReload.get(key) ?? 0) >= BORROWED_RELOAD_INTERVAL_MS)) {
      lastReload.set(key, at);
      fresh = await links.reload(backend, seen);
    }
    fresh ??= await readCredential(backend, seen.id);
    const changed = tokensChanged(seen, fresh);
    if (!isAccessTokenExpired(fresh, now())) return { credential: fresh, outcome: changed ? "adopted" : "fresh" };

    const accessToken = fresh.secrets.accessToken;
    const expiredAt = fresh.secrets.expiresAt;
    const owner =
      link?.kind === "codex"
        ? { name: "Codex", run: "Run `codex` once" }
        : link?.kind === "claude-code"
          ? { name: "Claude Code", run: "Run `claude` once" }
          : { name: "The tool that owns it", run: "Use that tool once" };
    const message =
      `${describeCredential(fresh)}: its access token expired${expiredAt ? ` at ${iso(expiredAt)}` : ""}. It is borrowed` +
      `${link ? ` from ${link.path}` : ""}: ${owner.name} refreshes it, and credpool only re-reads the file. ` +
      `${owner.run} so it refreshes its token (credpool picks the new one up from the file), or re-import with ` +
      `\`credpool import ${link?.kind ?? "<source>"} --own\` to let credpool refresh it.`;
    // Bench it so leases go elsewhere; a new token in the file (the watcher or the next sync) clears this at once.
    await benchExpired(backend, fresh, accessToken, message, config.borrowedRecheckMs);
    throw failure(fresh, message, { reason: "expired", retryAfterMs: config.borrowedRecheckMs });
  }

  /** Benches a credential whose access token has expired and cannot be renewed here, unless its token changed. */
  async function benchExpired(
    backend: PoolBackend,
    credential: Credential,
    accessToken: string | undefined,
    message: string,
    durationMs: number,
  ): Promise<void> {
    try {
      await backend.update((doc) => {
        const current = findCredential(doc, credential.id);
        if (!current || current.secrets.accessToken !== accessToken || current.status.state !== "ok") return;
        current.status = { state: "exhausted", since: now(), until: now() + durationMs, reason: "expired", message };
      });
    } catch (error) {
      emit({ event: "refresh.record_failed", credentialId: credential.id, error: (error as Error).message });
    }
  }

  /** Another live process's request for the credential's current refresh token, from its in-flight marker. */
  function attemptInFlight(credential: Credential): RefreshInFlight | undefined {
    const marker = inFlightMarkerOf(credential);
    const refreshToken = credential.secrets.refreshToken;
    if (!marker || !refreshToken || marker.tokenFp !== fingerprintToken(refreshToken)) return undefined;
    return isHolderAlive(marker, now()) ? marker : undefined;
  }

  /**
   * Waits for the refresh lock, but adopts the moment another process commits a newer pair: waiters then need no
   * turn under the lock at all, so N processes finishing costs about one refresh, not N lock hand-offs. Between
   * tries a waiter sleeps until that commit is seen or a short backoff ends, rather than polling the lock every few
   * milliseconds: 15 busy waiters would otherwise starve the one process doing the refresh of CPU. While the watched
   * pool shows the holder's request in flight, waiters do not try the lock at all: its commit wakes them. With 120
   * waiters, even polling every 100 ms took most of the CPU, and the holder's two commits took seconds each.
   * See bench/groups/refresh.mjs and bench/lib/fanout.mjs.
   */
  async function lockOrAdopt(
    backend: PoolBackend,
    seen: Credential,
    pool: Pool | undefined,
  ): Promise<{ lock: NamedLock } | { adopted: Credential }> {
    const started = now();
    let adopted: Credential | undefined;
    let otherAttempt: RefreshInFlight | undefined;
    let wake: (() => void) | undefined;
    const check = (doc: PoolDocument): void => {
      const current = findCredential(doc, seen.id);
      if (!adopted && current && tokensChanged(seen, current) && !isDue(current)) {
        adopted = current;
        wake?.();
        return;
      }
      const waitedOn = otherAttempt;
      otherAttempt = current ? attemptInFlight(current) : undefined;
      // The attempt ended without a pair to adopt (it failed, or was found stale): the lock is the way on, now.
      if (waitedOn && (otherAttempt?.since !== waitedOn.since || otherAttempt.pid !== waitedOn.pid)) wake?.();
    };
    const unsubscribe = pool?.onChange((change) => check(change.doc));
    // The watched pool may already hold the new pair, or show the request in flight: no lock try needed for either.
    if (pool) check(pool.doc);
    let backoffMs = pool ? WATCHED_LOCK_RETRY_MIN_MS : LOCK_RETRY_MIN_MS;
    try {
      for (;;) {
        if (adopted) return { adopted };
        // While another process's request is in flight the lock is surely busy: wait for its commit instead.
        if (!(pool && otherAttempt)) {
          try {
            // One try (a file store fails a lock it finds fresh with one stat, and retries within 1 ms at most); the
            // waiting happens below, where a commit can end it.
            return { lock: await backend.lock(refreshLockName(seen.id), { timeoutMs: 1 }) };
          } catch (error) {
            if (!isPoolError(error, "E_LOCK_TIMEOUT")) throw error;
          }
        }
        // Also re-judges the holder's liveness, which changes without a commit.
        if (pool) check(pool.doc);
        if (adopted) return { adopted };
        const waited = now() - started;
        if (waited >= lockTimeoutMs) {
          throw new PoolError(
            "E_LOCK_TIMEOUT",
            `Waited ${waited} ms for the refresh lock of ${describeCredential(seen)}.`,
          );
        }
        // Only a watched pool wakes the waiter; without one the short backoff is how the new pair is seen.
        const delayMs = pool && otherAttempt ? LOCK_RETRY_IN_FLIGHT_MS : backoffMs;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(delayMs * (0.5 + Math.random()), lockTimeoutMs - waited));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        // Without a watched pool, look at the file itself each round.
        if (!pool && !adopted) check((await backend.read()).doc);
        backoffMs = Math.min(backoffMs * 2, pool ? WATCHED_LOCK_RETRY_MAX_MS : LOCK_RETRY_MAX_MS);
      }
    } finally {
      unsubscribe?.();
    }
  }

  async function run(
    backend: PoolBackend,
    credentialId: string,
    request: RefreshRequest,
    pool?: Pool,
  ): Promise<RefreshResult> {
    const force = request.force === true;
    const seen = request.seen ?? (await readCredential(backend, credentialId));
    if (seen.kind !== "oauth") {
      throw new PoolError(
        "E_INVALID_INPUT",
        `${describeCredential(seen)} is an API key; only OAuth credentials refresh.`,
      );
    }
    if (ownershipOf(seen) === "borrow") return refreshBorrowed(backend, seen, force);
    if (!force && !isDue(seen)) return { credential: seen, outcome: "fresh" };

    let endpoint: TokenEndpoint;
    try {
      endpoint = endpointFor(seen);
    } catch (error) {
      // No endpoint configured for this provider (e.g. a login imported from hermes): serve the token while it
      // lasts, then bench it rather than fail every lease that picks it.
      if (!isPoolError(error, "E_REFRESH_FAILED") || force) throw error;
      if (!isAccessTokenExpired(seen, now())) return { credential: seen, outcome: "fresh" };
      const message = `${describeCredential(seen)}: its access token expired and it cannot be refreshed. ${error.message}`;
      await benchExpired(backend, seen, seen.secrets.accessToken, message, config.rejectedBackoffMs);
      throw failure(seen, message, {
        reason: "refresh_unconfigured",
        retryAfterMs: config.rejectedBackoffMs,
        cause: error,
      });
    }
    const link = sourceLinkOf(seen);
    if (link?.ownership === "own" && !links) {
      // Fail closed: refreshing without writing back would leave the other tool holding a spent token.
      throw failure(
        seen,
        `${describeCredential(seen)} is linked to ${link.path}, whose copy must be updated after every refresh, but this ` +
          "refresher was created without source links (pass `links: createSourceLinks()`).",
        { reason: "refresh_misconfigured" },
      );
    }
    let lock: NamedLock;
    try {
      const acquired = await lockOrAdopt(backend, seen, pool);
      if ("adopted" in acquired) return { credential: acquired.adopted, outcome: "adopted" };
      lock = acquired.lock;
    } catch (error) {
      if (!isPoolError(error, "E_LOCK_TIMEOUT")) throw error;
      const fresh = await readCredential(backend, seen.id);
      if (!isAccessTokenExpired(fresh, now()) && (tokensChanged(seen, fresh) || !force)) {
        return { credential: fresh, outcome: tokensChanged(seen, fresh) ? "adopted" : "fresh" };
      }
      throw failure(
        fresh,
        `${describeCredential(fresh)}: another process has held its refresh lock for over ${lockTimeoutMs} ms; try again.`,
        {
          reason: "refresh_lock_timeout",
          retryAfterMs: 5 * SECOND,
          cause: error,
        },
      );
    }
    try {
      return await refreshUnderLock(backend, seen, force, endpoint, lock);
    } finally {
      await lock.release();
    }
  }

  function refresh(
    backend: PoolBackend,
    credentialId: string,
    request: RefreshRequest = {},
    pool?: Pool,
  ): Promise<RefreshResult> {
    // In-process single flight: concurrent leases of one credential share one attempt (and one lock wait).
    const key = `${backend.location}\n${credentialId}`;
    const running = inflight.get(key);
    if (running) return running;
    const attempt = run(backend, credentialId, request, pool).finally(() => inflight.delete(key));
    inflight.set(key, attempt);
    return attempt;
  }

  const ensureFresh: CredentialRefresher = async (pool, credential) => {
    if (credential.kind !== "oauth" || !isDue(credential)) return credential;
    return (await refresh(pool.backend, credential.id, { seen: credential }, pool)).credential;
  };

  return { ensureFresh, refresh, isDue, endpointFor };
}
