export {
  checkAvailability,
  describeUnavailability,
  findModelCooldown,
  hasSecret,
  liveLeases,
  type Unavailability,
} from "./availability.js";
export {
  TERMINAL_REASONS,
  classifyFailure,
  computeFailureStatus,
  findTerminalReason,
  healthConfigSchema,
  type FailureClass,
  type FailureReport,
  type HealthConfig,
  type HealthContext,
} from "./health.js";
export {
  DEFAULT_STRATEGY,
  openPool,
  type AddCredentialInput,
  type CredentialRefresher,
  type CredentialView,
  type Lease,
  type LeaseOptions,
  type LeaseOutcome,
  type Pool,
  type PoolEvent,
  type PoolOptions,
  type SelectOptions,
} from "./pool.js";
export {
  REDACTED,
  redactValues,
  sanitizeLabelText,
  sanitizeMessage,
  scrubMessage,
  secretValuesOf,
  stripControlCharacters,
} from "./sanitize.js";
export { KNOWN_PROVIDERS, assertProviderName, getProviderDefaults, type ProviderDefaults } from "./providers.js";
export { parseDuration, parseResetInfo, parseResetValue, reportsAccountLimit, type HeaderBag } from "./reset-info.js";
export {
  formatQuotaWindow,
  parseQuotaWindows,
  type QuotaFormatOptions,
  type QuotaReading,
  type QuotaWindow,
  type QuotaWindowStatus,
} from "./quota-windows.js";
export {
  headroomOf,
  isStaleWindow,
  mergeQuota,
  quotaFromReading,
  quotaWindowViews,
  type QuotaWindowView,
} from "./quota-store.js";
export { chooseCredential, orderCredentials, type StrategyChoice, type StrategyInput } from "./strategy.js";
export { findCredential, listCredentials, resolveTarget } from "./targets.js";
export { maskSecret } from "./mask.js";
export { listCredentialViews } from "./views.js";
