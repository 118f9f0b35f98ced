export { createGatewayClient, type GatewayClient, type GatewayClientOptions, type LeaseGrant } from "./client.js";
export { createGatewayHandler, gatewayOptionsSchema, type GatewayHandler, type GatewayHandlerOptions } from "./handler.js";
export { errorResponse, httpStatusFor, responseForError } from "./http-errors.js";
export { createGatewayLogger, maskValue, REDACTED_PATHS } from "./logger.js";
export { createGatewayMetrics, type GatewayMetrics } from "./metrics.js";
export type { AdminGate, GatewayServices } from "./routes/services.js";
export {
  createGatewayProxy,
  parseProxyConfig,
  proxyConfigSchema,
  type GatewayProxy,
  type ProxyConfig,
  type ProxyConfigInput,
  type ProxyDependencies,
} from "./proxy/index.js";
export { startGatewayServer, type GatewayServerOptions, type RunningGateway } from "./server.js";
export { TOKEN_FILE_NAME, createTokenStore, type ClientToken, type TokenScope, type TokenStore } from "./tokens.js";
export type { GatewayRequest, GatewayResponse } from "./types.js";
