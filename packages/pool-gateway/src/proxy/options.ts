// Proxy settings: the `proxy` section of config.json (its schema lives with the rest of config.json in pool-core,
// so unknown keys there are warned about like any other), validated before the gateway serves.
import { fromZodError, proxyConfigSchema, type ProxyConfig } from "@credpool/pool-core";

export { proxyConfigSchema, type ProxyConfig, type ProxyConfigInput } from "@credpool/pool-core";

export function parseProxyConfig(raw: unknown, where = "proxy options"): ProxyConfig {
  const parsed = proxyConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw fromZodError("E_INVALID_OPTIONS", `Invalid ${where}`, parsed.error);
  return parsed.data;
}
