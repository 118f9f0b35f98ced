// The gateway as a plain function from request to response (tests need no socket). The pipeline is visible below.
import { parseOptions, type LoginProfile, type Pool } from "@credpool/pool-core";
import type { Logger } from "pino";
import { z } from "zod";
import { errorResponse, responseForError } from "./http-errors.js";
import { createLeaseRegistry, type LeaseRegistry } from "./lease-registry.js";
import { createGatewayLogger } from "./logger.js";
import { createGatewayMetrics, type GatewayMetrics } from "./metrics.js";
import { createAccessControlMiddleware } from "./middleware/access-control.js";
import { AUTH_THROTTLE_DEFAULTS, createAuthThrottle, type AuthThrottle } from "./middleware/auth-throttle.js";
import { createAuthenticationMiddleware } from "./middleware/authenticate.js";
import { createBodyLimitMiddleware } from "./middleware/body-limit.js";
import { createIdempotencyMiddleware } from "./middleware/idempotency.js";
import { createRateLimitMiddleware } from "./middleware/rate-limit.js";
import { createRequestIdMiddleware } from "./middleware/request-id.js";
import { createValidationMiddleware } from "./middleware/validate.js";
import { createAdminRoutes } from "./routes/admin.js";
import { createLeaseRoutes } from "./routes/leases.js";
import type { AdminGate, GatewayServices } from "./routes/services.js";
import { createStatusRoutes } from "./routes/status.js";
import { createTokenRoutes } from "./routes/tokens.js";
import type { ClientToken, TokenStore } from "./tokens.js";
import type { GatewayRequest, GatewayResponse, Middleware, RequestContext, RouteDefinition } from "./types.js";

export const gatewayOptionsSchema = z.strictObject({
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  idempotencyTtlMs: z
    .number()
    .int()
    .positive()
    .default(10 * 60_000),
  idempotencyMaxEntries: z.number().int().positive().default(10_000),
  // Per client token. A worker doing lease + release for 32 parallel conversations stays far below it; a runaway
  // loop does not.
  rateLimitPerSecond: z.number().positive().default(2000),
  rateLimitBurst: z.number().int().positive().default(4000),
  // Failed authentications, all clients together: beyond this a failure is answered 429 instead of 401. A valid
  // token is never throttled (see middleware/authenticate.ts).
  authFailureRatePerSecond: z.number().positive().default(AUTH_THROTTLE_DEFAULTS.failureRatePerSecond),
  authFailureBurst: z.number().int().positive().default(AUTH_THROTTLE_DEFAULTS.failureBurst),
  // Failed authentications presenting one token id (`cpg_<id>_...`): a client stuck on a revoked or mistyped token.
  authPrefixFailureRatePerSecond: z.number().positive().default(AUTH_THROTTLE_DEFAULTS.prefixFailureRatePerSecond),
  authPrefixFailureBurst: z.number().int().positive().default(AUTH_THROTTLE_DEFAULTS.prefixFailureBurst),
  authThrottleEventIntervalMs: z.number().int().positive().default(AUTH_THROTTLE_DEFAULTS.throttleEventIntervalMs),
  metricsPublic: z.boolean().default(false),
  /** Serve no leases until an admin has authenticated with TOTP since start-up. */
  requireTotpToServe: z.boolean().default(false),
});

function isFunction(value: unknown): boolean {
  return typeof value === "function";
}

function isObject(value: unknown): boolean {
  return typeof value === "object" && value !== null;
}

/** Every option, so a misspelt one is refused (with the closest suggested) instead of ignored. */
const handlerOptionsSchema = gatewayOptionsSchema.extend({
  /** Checks bearer tokens; usually a TokenStore's `verify`. */
  verifyToken: z.custom<(token: string) => ClientToken | undefined | Promise<ClientToken | undefined>>(
    isFunction,
    "must be a function",
  ),
  /** The token store, for POST /v1/tokens (minting child tokens); without it that route does not exist. */
  tokens: z.custom<TokenStore>(isObject, "must be a token store").optional(),
  gate: z.custom<AdminGate>(isObject, "must be an admin gate").optional(),
  logger: z.custom<Logger>(isObject, "must be a pino logger").optional(),
  metrics: z.custom<GatewayMetrics>(isObject, "must be gateway metrics").optional(),
  now: z.custom<() => number>(isFunction, "must be a function").optional(),
  /** Login settings for /v1/admin/login/*; usually resolveLoginProfile over config.json. */
  loginProfile: z.custom<(provider: string) => LoginProfile>(isFunction, "must be a function").optional(),
});

export type GatewayHandlerOptions = z.input<typeof handlerOptionsSchema>;

export interface GatewayHandler {
  (request: GatewayRequest): Promise<GatewayResponse>;
  readonly services: GatewayServices;
  /** Requests currently inside the pipeline (for graceful shutdown). */
  readonly inFlight: number;
  /** The failed-authentication throttle; give it to the proxy so both count against the same buckets. */
  readonly authThrottle: AuthThrottle;
  /** Releases held leases and stops timers; the pool itself is the caller's to close. */
  close(): Promise<void>;
}

interface CompiledRoute {
  readonly route: RouteDefinition;
  readonly segments: string[];
}

function compile(routes: RouteDefinition[]): CompiledRoute[] {
  return routes.map((route) => ({ route, segments: route.pattern.split("/").slice(1) }));
}

const NO_PARAMS: Record<string, string> = Object.freeze({});

function matchPath(compiled: CompiledRoute, parts: string[]): Record<string, string> | undefined {
  const { segments } = compiled;
  if (segments.length !== parts.length) return undefined;
  // Check first and allocate params only for the route that matches: this runs for every route on every request.
  let captures = 0;
  for (let i = 0; i < parts.length; i++) {
    const segment = segments[i] ?? "";
    const part = parts[i] ?? "";
    if (segment.charCodeAt(0) === 58 /* ":" */) {
      if (part === "") return undefined;
      captures++;
    } else if (segment !== part) {
      return undefined;
    }
  }
  if (captures === 0) return NO_PARAMS;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const segment = segments[i] ?? "";
    if (segment.charCodeAt(0) === 58) params[segment.slice(1)] = parts[i] ?? "";
  }
  return params;
}

function compose(middlewares: Middleware[], final: (context: RequestContext) => Promise<GatewayResponse>) {
  return (context: RequestContext): Promise<GatewayResponse> => {
    const dispatch = (index: number): Promise<GatewayResponse> => {
      const middleware = middlewares[index];
      return middleware ? middleware(context, () => dispatch(index + 1)) : final(context);
    };
    return dispatch(0);
  };
}

export function createGatewayHandler(pool: Pool, rawOptions: GatewayHandlerOptions): GatewayHandler {
  const {
    verifyToken,
    tokens,
    gate,
    logger: givenLogger,
    metrics: givenMetrics,
    now,
    loginProfile,
    ...options
  } = parseOptions(handlerOptionsSchema, rawOptions, "gateway options");
  const logger = givenLogger ?? createGatewayLogger();
  const metrics = givenMetrics ?? createGatewayMetrics();
  metrics.attachPool(pool);
  const leases: LeaseRegistry = createLeaseRegistry();
  const services: GatewayServices = {
    pool,
    leases,
    metrics,
    logger,
    gate,
    requireAdminSession: options.requireTotpToServe,
    state: { adminAuthenticated: false },
    loginProfile,
  };
  // Lease routes first: they are nearly all the traffic, and no two patterns overlap, so order changes no answer.
  const routes = compile([
    ...createLeaseRoutes(services),
    ...createStatusRoutes(services),
    ...createAdminRoutes(services),
    ...(tokens ? createTokenRoutes(services, tokens) : []),
  ]);

  const authThrottle = createAuthThrottle({
    failureRatePerSecond: options.authFailureRatePerSecond,
    failureBurst: options.authFailureBurst,
    prefixFailureRatePerSecond: options.authPrefixFailureRatePerSecond,
    prefixFailureBurst: options.authPrefixFailureBurst,
    throttleEventIntervalMs: options.authThrottleEventIntervalMs,
    onEvent: ({ event, ...fields }) => logger.warn({ event, ...fields }, event),
    ...(now ? { now } : {}),
  });

  // The pipeline, in order: request id, body limit, authentication, idempotency, access control (scopes), rate
  // limit, validation, handler. Idempotency comes after authentication, so a replay needs a token valid now.
  const pipeline = compose(
    [
      createRequestIdMiddleware(),
      createBodyLimitMiddleware(options.maxBodyBytes),
      createAuthenticationMiddleware({
        verify: verifyToken,
        throttle: authThrottle,
        metricsPublic: options.metricsPublic,
      }),
      createIdempotencyMiddleware({ ttlMs: options.idempotencyTtlMs, maxEntries: options.idempotencyMaxEntries }),
      createAccessControlMiddleware(),
      createRateLimitMiddleware({ ratePerSecond: options.rateLimitPerSecond, burst: options.rateLimitBurst }),
      createValidationMiddleware(),
    ],
    (context) => context.route.handle(context),
  );

  let inFlight = 0;
  metrics.attachInFlight(() => inFlight);

  const handle = async (request: GatewayRequest): Promise<GatewayResponse> => {
    const startedAt = performance.now();
    inFlight++;
    let routeName = "unmatched";
    let response: GatewayResponse;
    try {
      const rawPath = request.url.split("?", 1)[0] ?? "/";
      let parts: string[];
      try {
        parts = rawPath.split("/").slice(1);
        if (rawPath.includes("%")) parts = parts.map(decodeURIComponent);
      } catch {
        return (response = errorResponse("E_INVALID_INPUT", "The request path is not valid percent-encoding."));
      }
      let matched: { route: RouteDefinition; params: Record<string, string> } | undefined;
      let pathMatched = false;
      for (const compiled of routes) {
        const params = matchPath(compiled, parts);
        if (!params) continue;
        pathMatched = true;
        if (compiled.route.method === request.method) {
          matched = { route: compiled.route, params };
          break;
        }
      }
      if (!matched) {
        response = pathMatched
          ? errorResponse("E_METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${rawPath}.`)
          : errorResponse("E_NOT_FOUND", `No route for ${request.method} ${rawPath}.`);
        return response;
      }
      routeName = matched.route.name;
      const context: RequestContext = {
        request,
        path: rawPath,
        params: matched.params,
        route: matched.route,
        startedAt,
        requestId: "",
      };
      try {
        response = await pipeline(context);
      } catch (error) {
        response = responseForError(error);
        response.headers["x-request-id"] = context.requestId;
        if (response.status >= 500 && response.status !== 503) {
          logger.error(
            { event: "request.failed", requestId: context.requestId, route: routeName, err: error },
            "request failed",
          );
        }
      }
      return response;
    } finally {
      inFlight--;
      metrics.httpDuration.observe(
        { route: routeName, status: String(response!.status) },
        (performance.now() - startedAt) / 1000,
      );
    }
  };

  return Object.assign(handle, {
    services,
    authThrottle,
    get inFlight() {
      return inFlight;
    },
    async close() {
      leases.stop();
      await leases.releaseAll();
    },
  });
}
