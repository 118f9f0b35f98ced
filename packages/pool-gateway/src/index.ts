// pool-gateway's public API: the request handler, the server that listens, the client workers use, and the
// client tokens. Everything else is private to the package.

// The handler: tests and embedders call it directly, with no socket.
export { createGatewayHandler, type GatewayHandler, type GatewayHandlerOptions } from "./handler.js";
export type { AdminGate } from "./routes/services.js";
export type { AuthThrottle } from "./middleware/auth-throttle.js";
export type { GatewayRequest, GatewayResponse } from "./types.js";

// The server: the only thing that listens (loopback by default).
export { startGatewayServer, type GatewayServerOptions, type RunningGateway } from "./server.js";

// The client: lease and release over HTTP.
export {
  createGatewayClient,
  type CreateTokenRequest,
  type GatewayClient,
  type GatewayClientOptions,
  type LeaseGrant,
  type MintedToken,
} from "./client.js";

// Client tokens (also the `./tokens` entry, which the CLI loads without the rest of the gateway).
export {
  DEFAULT_CHILD_TTL_MS,
  TOKEN_SCOPES,
  createTokenStore,
  type ClientToken,
  type CreateTokenOptions,
  type TokenInfo,
  type TokenScope,
  type TokenStore,
  type TokenStoreOptions,
} from "./tokens.js";
export { describeLimits, modelMatches, narrowLimits, tokenLimitsSchema, type TokenLimits } from "./token-limits.js";

// The proxy: provider routes (/anthropic, /openai, ...) served before the handler, with failover across credentials.
export {
  createGatewayProxy,
  parseProxyConfig,
  proxyConfigSchema,
  type GatewayProxy,
  type ProxyConfig,
  type ProxyConfigInput,
  type ProxyDependencies,
} from "./proxy/index.js";

// The status page (GET /) and its event stream (GET /v1/events), also served before the handler.
export { createStatusFeed, type StatusEvent, type StatusFeed, type StatusFeedOptions } from "./status/feed.js";
export {
  STATUS_PAGE_CSP,
  createStatusPageRoutes,
  type StatusPageOptions,
  type StatusPageRoutes,
} from "./status/page-routes.js";
