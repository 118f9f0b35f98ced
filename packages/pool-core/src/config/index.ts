// credpool's settings: $CREDPOOL_HOME/config.json plus CREDPOOL_* environment overrides. Sections are loose so
// other layers can add their own.
export {
  CONFIG_FILE_NAME,
  TOTP_ALGORITHMS,
  credpoolConfigSchema,
  proxyConfigSchema,
  sourcesConfigSchema,
  storeConfigSchema,
  storeSslSchema,
  totpConfigSchema,
  type CredpoolConfig,
  type CredpoolConfigInput,
  type ProxyConfig,
  type ProxyConfigInput,
  type SourcesConfig,
  type StoreConfig,
  type StoreSslConfig,
  type TotpAlgorithm,
  type TotpConfig,
} from "./config-schema.js";
export {
  TOTP_ENV_OVERRIDES,
  findConfigWarnings,
  loadCredpoolConfig,
  resolveConfig,
  resolveTotpSecretSource,
  type ConfigWarning,
  type LoadConfigOptions,
  type LoadedConfig,
  type TotpSecretSource,
} from "./load-config.js";
export { resolveStoreChoice, type StoreChoice } from "./store-choice.js";
