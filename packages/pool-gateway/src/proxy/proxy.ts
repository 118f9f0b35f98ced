// The provider routes (/anthropic, /openai, /openai-codex, /openrouter, /custom/<name>) at the node:http level, so
// answers stream through as they arrive. One request: authenticate, hold the body, lease a credential (the session's
// own while it can serve, see affinity.ts), send; before the first byte reaches the client a throttle, overload, 5xx
// or network failure is recorded on that credential and the request moves to the next one. See DESIGN.md "Proxy"
// and test/proxy/*.test.ts.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import {
  PoolError,
  classifyFailure,
  findCredential,
  isPoolError,
  parseQuotaWindows,
  type Lease,
  type LeaseOutcome,
  type Pool,
  type Refresher,
  type TokenCounts,
  type UsageRecorder,
} from "@credpool/pool-core";
import type { Logger } from "pino";
import type { GatewayMetrics } from "../metrics.js";
import { AUTH_THROTTLE_DEFAULTS, createAuthThrottle, type AuthThrottle } from "../middleware/auth-throttle.js";
import type { ClientToken } from "../tokens.js";
import { createSessionAffinity, sessionKeyOf } from "./affinity.js";
import { createClientLimiter } from "./client-limits.js";
import { jsonBodyOf } from "./json-body.js";
import { proxyError, type ProxyErrorReply } from "./errors.js";
import { buildClientHeaders, buildUpstreamHeaders, presentedToken } from "./headers.js";
import { parseProxyConfig, type ProxyConfig, type ProxyConfigInput } from "./options.js";
import {
  DEFAULT_UPSTREAMS,
  isProxyPath,
  resolveProxyTarget,
  upstreamAddress,
  type ErrorFormat,
  type ProxyRoute,
} from "./routes.js";
import { readSmallBody, readStreamHead } from "./stream-head.js";
import { createUpstreamClient, describeNetworkError, type UpstreamClient, type UpstreamResponse } from "./upstream.js";
import { accountRequest } from "./usage-accounting.js";
import { createUsageTap, type UsageTap } from "./usage-tap.js";

export interface ProxyDependencies {
  readonly pool: Pool;
  verifyToken(token: string): ClientToken | undefined | Promise<ClientToken | undefined>;
  /** The pool's single-flight refresher: a 401 on an OAuth credential forces a refresh (or adopts a newer token). */
  readonly refresher?: Pick<Refresher, "refresh">;
  readonly logger?: Logger;
  /** The lease API's failed-authentication throttle (GatewayHandler.authThrottle), so both share its buckets. */
  readonly authThrottle?: AuthThrottle;
  readonly config?: ProxyConfigInput;
  readonly now?: () => number;
  /** Proxy counters and the upstream latency histogram on /metrics. */
  readonly metrics?: GatewayMetrics;
  /** Token usage per credential × model × client, flushed in batches to usage.json. */
  readonly usage?: UsageRecorder;
  /**
   * Why the gateway serves no credential now, or undefined when it does: `requireTotpToServe` before an admin's
   * first TOTP session. The lease API asks the same (routes/leases.ts).
   */
  locked?(): string | undefined;
}

export interface GatewayProxy {
  readonly config: ProxyConfig;
  /** Whether a request target belongs to the proxy (checked before the gateway's own routes). */
  matches(url: string): boolean;
  handle(request: IncomingMessage, response: ServerResponse): void;
  close(): Promise<void>;
}

/** Statuses that say "not now, not this credential" rather than "this request is wrong". */
const FAILOVER_STATUSES = new Set([429, 500, 502, 503, 504, 529]);

/** An attempt that did not reach the client: what to pass on if it was the last. */
type Failure =
  | {
      readonly kind: "http";
      readonly status: number;
      readonly headers: UpstreamResponse["headers"];
      readonly body: Buffer;
    }
  | { readonly kind: "network"; readonly reason: string };

interface RequestState {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly route: ProxyRoute;
  readonly format: ErrorFormat;
  readonly path: string;
  readonly query: string;
  readonly body: Buffer;
  readonly model: string | undefined;
  readonly abort: AbortController;
  readonly client: ClientToken;
  readonly startedAt: number;
  /** proxy.maxWaitMs, or the client token's own. */
  readonly maxWaitMs: number;
  attempts: number;
  credentialLabel?: string;
  credentialId?: string;
  /** What the delivered answer said it used, and the model it named. */
  tokens?: TokenCounts;
  answerModel?: string;
  /** The last attempt's time from sending to response headers. */
  upstreamMs?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function reply(response: ServerResponse, answer: ProxyErrorReply, close = false): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const headers: Record<string, string> = {
    ...answer.headers,
    "content-length": String(Buffer.byteLength(answer.body)),
  };
  if (close) headers.connection = "close";
  response.writeHead(answer.status, headers);
  response.end(answer.body);
}

/** Holds the body up to `limit` bytes so it can be sent again; null when it is larger. */
function readRequestBody(request: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners("data");
        request.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    request.once("end", () => resolve(Buffer.concat(chunks)));
    request.once("error", reject);
  });
}

function modelOf(body: Buffer, contentType: string | undefined): string | undefined {
  if (body.length === 0 || !(contentType ?? "").includes("json")) return undefined;
  const model = (jsonBodyOf(body) as { model?: unknown } | null | undefined)?.model;
  return typeof model === "string" && model.length <= 200 ? model : undefined;
}

type RelayEnd =
  | { readonly kind: "done" }
  | { readonly kind: "client_closed" }
  | { readonly kind: "upstream_failed"; readonly reason: string };

/**
 * Copies `body` to `response` chunk by chunk with backpressure. Says which side ended it: a client that went away
 * tells nothing about the credential, an upstream that broke off mid-answer does.
 */
function relay(body: Readable, response: ServerResponse, tap?: UsageTap): Promise<RelayEnd> {
  return new Promise((resolve) => {
    let ended = false;
    const settle = (end: RelayEnd): void => {
      if (ended) return;
      ended = true;
      resolve(end);
    };
    body.on("data", (chunk: Buffer) => {
      if (!response.write(chunk)) body.pause();
      tap?.feed(chunk);
    });
    response.on("drain", () => body.resume());
    body.once("end", () => response.end());
    body.on("error", (error) => {
      if (ended) return;
      settle({ kind: "upstream_failed", reason: describeNetworkError(error) });
      // No more bytes will come: end the client's response abruptly so it knows the answer is incomplete.
      response.destroy();
    });
    response.once("close", () => {
      if (response.writableFinished) return settle({ kind: "done" });
      settle({ kind: "client_closed" });
      body.destroy();
    });
    body.resume();
  });
}

export function createGatewayProxy(deps: ProxyDependencies): GatewayProxy {
  const config = parseProxyConfig(deps.config);
  const now = deps.now ?? Date.now;
  // Request ids for the log: the client's X-Request-Id when it is sane, else a per-process prefix and a counter.
  const idPrefix = randomBytes(4).toString("hex");
  let idCounter = 0;
  function requestIdOf(request: IncomingMessage): string {
    const presented = request.headers["x-request-id"];
    if (typeof presented === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(presented)) return presented;
    return idPrefix + (idCounter = (idCounter + 1) >>> 0).toString(16).padStart(8, "0");
  }
  const upstreams: Record<string, string> = { ...DEFAULT_UPSTREAMS, ...config.upstreams };
  // The one line per request: its fields are fixed and none is named like a secret, so the logger's redaction
  // (which costs more than the rest of the line; see bench/groups/proxy.mjs) would change nothing in it.
  const requestLog = deps.logger?.child({}, { redact: [] });
  const limiter = createClientLimiter({ defaultMaxWaitMs: config.maxWaitMs, now });
  const authThrottle =
    deps.authThrottle ??
    createAuthThrottle({
      ...AUTH_THROTTLE_DEFAULTS,
      onEvent: ({ event, ...fields }) => deps.logger?.warn({ event, ...fields }, event),
    });
  const client: UpstreamClient = createUpstreamClient({
    connectTimeoutMs: config.connectTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
  });
  const affinity = createSessionAffinity({ ...config.affinity, now });

  /** The request's session binding (route, client token and conversation), or undefined: no affinity. */
  function sessionBindingOf(state: RequestState): string | undefined {
    if (config.affinity.maxSessions === 0) return undefined;
    const session = sessionKeyOf(state.request.headers, state.body, state.request.headers["content-type"]);
    return session && affinity.bindingKey(state.route.provider, state.client.id, session);
  }

  /** A credential's own baseUrl wins over the configured (or built-in) upstream of its provider. */
  function baseUrlFor(lease: Lease, provider: string): string | undefined {
    return findCredential(deps.pool.doc, lease.credentialId)?.baseUrl ?? upstreams[provider];
  }

  async function release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    try {
      await lease.release(outcome);
    } catch (error) {
      deps.logger?.warn(
        { event: "proxy.release_failed", credentialId: lease.credentialId, error: (error as Error).message },
        "release failed",
      );
    }
  }

  /** A fresh access token for an OAuth credential the upstream refused: another request's refresh, or our own. */
  async function renewAccessToken(lease: Lease, used: string): Promise<string> {
    if (!deps.refresher)
      throw new PoolError("E_REFRESH_FAILED", "This gateway has no refresher for OAuth credentials.");
    const current = findCredential(deps.pool.doc, lease.credentialId);
    if (!current) throw new PoolError("E_NOT_FOUND", `Credential ${lease.label} was removed from the pool.`);
    const known = current.secrets.accessToken;
    if (known && known !== used) return known;
    const result = await deps.refresher.refresh(deps.pool.backend, lease.credentialId, { force: true, seen: current });
    const renewed = result.credential.secrets.accessToken;
    if (!renewed || renewed === used) {
      throw new PoolError("E_REFRESH_FAILED", `Credential ${lease.label}: the refresh brought no new access token.`);
    }
    return renewed;
  }

  function failureOutcome(
    state: RequestState,
    status: number,
    headers: UpstreamResponse["headers"] | undefined,
    message: string,
    reason?: string,
  ): LeaseOutcome {
    return {
      error: {
        status,
        ...(headers ? { headers } : {}),
        message: message.slice(0, 2000),
        ...(state.model ? { model: state.model } : {}),
        ...(reason ? { reason } : {}),
      },
    };
  }

  function accountSide(outcome: LeaseOutcome): boolean {
    if (outcome === "ok") return false;
    const kind = classifyFailure(outcome.error);
    return kind === "billing" || kind === "rate_limit" || kind === "terminal";
  }

  /** Streams an answer that may go to the client; its first byte ends failover. */
  async function deliver(
    state: RequestState,
    lease: Lease,
    upstream: UpstreamResponse,
    held: readonly Buffer[],
  ): Promise<number> {
    const { response } = state;
    response.writeHead(upstream.status, buildClientHeaders(upstream.headers));
    const tap = createUsageTap(upstream.status, String(upstream.headers["content-type"] ?? ""));
    for (const chunk of held) {
      response.write(chunk);
      tap?.feed(chunk);
    }
    const end = await relay(upstream.body, response, tap);
    const usage = tap?.finish();
    if (usage) {
      state.tokens = usage.tokens;
      state.answerModel = usage.model;
    }
    if (end.kind === "upstream_failed") {
      await release(lease, failureOutcome(state, 0, undefined, `the upstream broke off the answer (${end.reason})`));
      return -1;
    }
    // A client that went away says nothing about the credential.
    if (end.kind === "client_closed" || upstream.status < 400) await release(lease, "ok");
    else await release(lease, failureOutcome(state, upstream.status, upstream.headers, ""));
    return upstream.status;
  }

  /** One credential: send, renew once on an OAuth 401, and either answer the client or report why not. */
  async function attempt(state: RequestState, lease: Lease): Promise<Failure | number> {
    let token = lease.token;
    let renewed = false;
    const baseUrl = baseUrlFor(lease, state.route.provider);
    if (!baseUrl) {
      await release(lease, "ok");
      return { kind: "network", reason: `no upstream URL for ${state.route.provider}` };
    }
    const address = upstreamAddress(baseUrl, state.path, state.query);
    for (;;) {
      let upstream: UpstreamResponse;
      const sentAt = now();
      try {
        upstream = await client.send({
          ...address,
          method: state.request.method ?? "GET",
          headers: buildUpstreamHeaders(
            state.request.headers,
            {
              provider: state.route.provider,
              format: state.format,
              token,
              tokenType: lease.tokenType,
              accountId: findCredential(deps.pool.doc, lease.credentialId)?.secrets.accountId,
            },
            state.body.length,
          ),
          body: state.body.length > 0 ? state.body : undefined,
          signal: state.abort.signal,
        });
      } catch (error) {
        if (state.abort.signal.aborted) {
          await release(lease, "ok");
          return 0;
        }
        const reason = describeNetworkError(error);
        await release(lease, failureOutcome(state, 0, undefined, `upstream request failed (${reason})`));
        return { kind: "network", reason };
      }
      state.upstreamMs = now() - sentAt;
      deps.metrics?.upstreamSeconds.observe(
        { provider: deps.metrics.providerLabel(state.route.provider) },
        state.upstreamMs / 1000,
      );
      // Every response's rate-limit headers, successes included, update the credential's quota windows.
      deps.pool.observeQuota(lease.credentialId, parseQuotaWindows(upstream.headers, now()));

      if (upstream.status >= 400) {
        let errorBody: Buffer;
        try {
          errorBody = await readSmallBody(upstream.body, config.errorBodyBytes);
        } catch (error) {
          if (state.abort.signal.aborted) {
            await release(lease, "ok");
            return 0;
          }
          const reason = describeNetworkError(error);
          await release(lease, failureOutcome(state, 0, undefined, `upstream error body broke off (${reason})`));
          return { kind: "network", reason };
        }
        const message = errorBody.toString("utf8");
        if (upstream.status === 401 && lease.kind === "oauth" && !renewed) {
          renewed = true;
          try {
            token = await renewAccessToken(lease, token);
            deps.metrics?.refreshRetries.inc({ provider: deps.metrics.providerLabel(state.route.provider) });
            continue;
          } catch (error) {
            deps.logger?.info(
              { event: "proxy.renew_failed", credential: lease.label, errorCode: (error as PoolError).code },
              "renew after 401 failed",
            );
          }
        }
        const failure: Failure = { kind: "http", status: upstream.status, headers: upstream.headers, body: errorBody };
        if (upstream.status === 401 && lease.kind === "api_key") {
          // The provider refused the key itself: it is dead until replaced, and another key may serve.
          await release(lease, failureOutcome(state, 401, upstream.headers, message, "invalid_api_key"));
          return failure;
        }
        if (FAILOVER_STATUSES.has(upstream.status) || upstream.status === 401 || /overloaded_error/.test(message)) {
          await release(lease, failureOutcome(state, upstream.status, upstream.headers, message));
          return failure;
        }
        const outcome = failureOutcome(state, upstream.status, upstream.headers, message);
        // A 400 or 404 that says the account is out of credit, rate limited or revoked is the credential's, not the
        // request's: the pool benches it (health.ts), and the next credential may serve the request, as after a 429.
        if (accountSide(outcome)) {
          await release(lease, outcome);
          return failure;
        }
        // The request's own fault (400, 404, 413, 422, context window ...): passed on unchanged.
        await release(lease, outcome);
        sendFailure(state, failure);
        return upstream.status;
      }

      const contentType = String(upstream.headers["content-type"] ?? "");
      if (upstream.status === 200 && contentType.includes("text/event-stream")) {
        let head;
        try {
          head = await readStreamHead(upstream.body, state.format, config.holdBytes);
        } catch (error) {
          if (state.abort.signal.aborted) {
            await release(lease, "ok");
            return 0;
          }
          const reason = describeNetworkError(error);
          await release(
            lease,
            failureOutcome(state, 0, undefined, `upstream stream broke off before content (${reason})`),
          );
          return { kind: "network", reason };
        }
        if (head.kind === "error") {
          upstream.body.destroy();
          await release(lease, failureOutcome(state, head.status, upstream.headers, head.message));
          // Passed on as it came (a 200 stream with its error event) if no other credential can serve.
          return { kind: "http", status: 200, headers: upstream.headers, body: Buffer.concat(head.held) };
        }
        return deliver(state, lease, upstream, head.held);
      }
      return deliver(state, lease, upstream, []);
    }
  }

  function sendFailure(state: RequestState, failure: Failure): void {
    if (failure.kind === "network") {
      reply(
        state.response,
        proxyError(
          state.format,
          502,
          "credpool_upstream_unreachable",
          `The upstream could not be reached (${failure.reason}).`,
        ),
      );
      return;
    }
    const headers = buildClientHeaders(failure.headers);
    delete headers["content-length"];
    headers["content-length"] = String(failure.body.length);
    state.response.writeHead(failure.status, headers);
    state.response.end(failure.body);
  }

  /**
   * When the credentials this request already tried can serve again. The pool's own hint skips excluded ones, and
   * those are the ones a wait is for. Undefined when one of them is not benched at all (it failed; no wait helps).
   */
  function soonestRecovery(state: RequestState): number | undefined {
    try {
      deps.pool.select(state.route.provider, state.model ? { model: state.model } : {});
      return undefined;
    } catch (error) {
      return isPoolError(error, "E_NO_CREDENTIAL") ? error.retryAfterMs : undefined;
    }
  }

  async function serve(state: RequestState): Promise<number> {
    const exclude: string[] = [];
    let lastFailure: Failure | undefined;
    const session = sessionBindingOf(state);
    for (;;) {
      if (state.abort.signal.aborted) return 0;
      if (state.attempts >= config.maxAttempts || (state.attempts > 0 && now() - state.startedAt >= config.deadlineMs))
        break;
      let lease: Lease;
      // The pool takes the session's credential only while it can serve and was not tried (excluded) here.
      const prefer = session === undefined ? undefined : affinity.preferred(session);
      try {
        lease = await deps.pool.lease(state.route.provider, {
          ...(state.model ? { model: state.model } : {}),
          ...(prefer ? { prefer } : {}),
          exclude,
          ttlMs: config.leaseTtlMs,
          // The key is used here and never handed on, so this lease is allowed when keys never leave the pool.
          inProcess: true,
        });
      } catch (error) {
        if (isPoolError(error, "E_NO_CREDENTIAL")) {
          const waitMs = exclude.length === 0 ? error.retryAfterMs : soonestRecovery(state);
          if (waitMs !== undefined && waitMs <= state.maxWaitMs - (now() - state.startedAt)) {
            await sleep(waitMs, state.abort.signal);
            // A credential tried earlier has recovered by now; it may serve again.
            exclude.length = 0;
            continue;
          }
          // What this request met says more than "no credential": the upstream's own error, or why it was unreachable.
          if (lastFailure) break;
          if (waitMs !== undefined) {
            reply(
              state.response,
              proxyError(
                state.format,
                429,
                "credpool_no_credential",
                `No ${state.route.provider} credential can serve now; the soonest recovers in ${Math.ceil(waitMs / 1000)} s.`,
                waitMs,
              ),
            );
            return 429;
          }
          reply(state.response, proxyError(state.format, 503, "credpool_no_credential", error.message));
          return 503;
        }
        const status = isPoolError(error, "E_REFRESH_FAILED") ? 502 : 503;
        reply(
          state.response,
          proxyError(
            state.format,
            status,
            "credpool_pool_error",
            isPoolError(error) ? error.message : "The pool could not lease a credential.",
          ),
        );
        return status;
      }
      state.attempts++;
      state.credentialLabel = lease.label;
      state.credentialId = lease.credentialId;
      exclude.push(lease.credentialId);
      // Bound before the answer starts, so the session's next request (which may follow the last byte at once)
      // finds it; a credential that fails here loses the session again.
      if (session !== undefined) affinity.bind(session, lease.credentialId);
      const result = await attempt(state, lease);
      if (session !== undefined && (typeof result !== "number" || result < 0)) affinity.forget(session);
      if (typeof result === "number") return result;
      lastFailure = result;
    }
    if (!lastFailure) return 0;
    sendFailure(state, lastFailure);
    return lastFailure.kind === "http" ? lastFailure.status : 502;
  }

  async function handleRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const startedAt = now();
    const target = resolveProxyTarget(request.url ?? "/");
    if (!target) return reply(response, proxyError("openai", 404, "credpool_not_found", "No such proxy route."), true);
    if (!target.ok) return reply(response, proxyError(target.format, 400, "credpool_bad_path", target.message), true);
    const format = target.route.format;
    const presented = presentedToken(request.headers);
    const clientToken = presented === undefined ? undefined : await deps.verifyToken(presented);
    if (!clientToken) {
      // Counted with the lease API's failures (middleware/auth-throttle.ts): past the budget, 429 instead of 401.
      const verdict = authThrottle.fail(`proxy:${target.route.provider}`, presented);
      return reply(
        response,
        verdict.ok
          ? proxyError(
              format,
              401,
              "credpool_unauthorized",
              "A credpool gateway token with scope proxy is required, in x-api-key or Authorization: Bearer.",
            )
          : proxyError(
              format,
              429,
              "credpool_auth_throttled",
              "Too many failed authentications; retry later with a valid credpool gateway token.",
              verdict.waitMs,
            ),
        true,
      );
    }
    if (clientToken.scope !== "proxy" && clientToken.scope !== "delegate" && clientToken.scope !== "admin") {
      return reply(
        response,
        proxyError(
          format,
          403,
          "credpool_forbidden",
          `Gateway token "${clientToken.name}" has scope ${clientToken.scope}; proxy routes need scope proxy.`,
        ),
        true,
      );
    }
    const locked = deps.locked?.();
    if (locked !== undefined) return reply(response, proxyError(format, 401, "credpool_totp_required", locked), true);
    const body = await readRequestBody(request, config.maxBodyBytes);
    if (body === null) {
      return reply(
        response,
        proxyError(
          format,
          413,
          "credpool_body_too_large",
          `The request body exceeds the proxy's limit of ${config.maxBodyBytes} bytes (proxy.maxBodyBytes).`,
        ),
        true,
      );
    }
    const admission = limiter.admit({
      client: clientToken,
      provider: target.route.provider,
      method: request.method ?? "GET",
      body,
      format,
    });
    if (!admission.ok) {
      deps.logger?.info(
        { event: "proxy.limited", client: clientToken.name, provider: target.route.provider, limit: admission.limit },
        "token limit",
      );
      return reply(response, admission.reply);
    }
    const abort = new AbortController();
    response.once("close", () => {
      if (!response.writableFinished) abort.abort();
    });
    const state: RequestState = {
      request,
      response,
      route: target.route,
      format,
      path: target.path,
      query: target.query,
      body,
      model: modelOf(body, request.headers["content-type"]),
      abort,
      client: clientToken,
      startedAt,
      maxWaitMs: admission.maxWaitMs,
      attempts: 0,
    };
    let served: number;
    try {
      served = await serve(state);
    } finally {
      admission.release();
    }
    const status = abort.signal.aborted && served === 0 ? "client_closed" : served;
    const model = state.model ?? state.answerModel;
    requestLog?.info(
      {
        event: "proxy.request",
        requestId: requestIdOf(request),
        client: clientToken.name,
        provider: target.route.provider,
        credential: state.credentialLabel,
        model,
        method: request.method,
        path: target.path,
        status,
        attempts: state.attempts,
        upstreamMs: state.upstreamMs,
        ms: now() - startedAt,
        tokens: state.tokens,
      },
      "proxied",
    );
    accountRequest(deps, {
      provider: target.route.provider,
      client: clientToken.name,
      credentialId: state.credentialId,
      credentialLabel: state.credentialLabel,
      model,
      status,
      attempts: state.attempts,
      tokens: state.tokens,
    });
  }

  return {
    config,
    matches: isProxyPath,
    handle(request, response) {
      handleRequest(request, response).catch((error: unknown) => {
        // A client that hung up while sending its body is not a gateway fault.
        if (request.destroyed && !response.headersSent) {
          deps.logger?.info({ event: "proxy.client_gone", error: (error as Error).message }, "client went away");
          return;
        }
        deps.logger?.error({ event: "proxy.internal_error", error: (error as Error).message }, "proxy failed");
        if (!response.headersSent)
          reply(response, proxyError("openai", 500, "credpool_internal", "Internal error; see the gateway log."), true);
        else response.destroy();
      });
    },
    close: () => client.close(),
  };
}
