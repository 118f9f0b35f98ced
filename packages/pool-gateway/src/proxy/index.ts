// The proxy routes agents use as a base URL (see DESIGN.md "Proxy").
export { createGatewayProxy, type GatewayProxy, type ProxyDependencies } from "./proxy.js";
export { parseProxyConfig, proxyConfigSchema, type ProxyConfig, type ProxyConfigInput } from "./options.js";
export {
  DEFAULT_UPSTREAMS,
  isProxyPath,
  resolveProxyTarget,
  upstreamAddress,
  type ErrorFormat,
  type ProxyRoute,
  type ProxyTarget,
} from "./routes.js";
export {
  createSessionAffinity,
  sessionKeyOf,
  type SessionAffinity,
  type SessionAffinityOptions,
  type SessionKey,
  type SessionSource,
} from "./affinity.js";
