// pool-core's public API: what the CLI, the gateway, the test kit and users import. Each folder's index.ts says
// what the folder shares inside pool-core; only the names below leave the package.

// Errors: one class with a code; see errors.ts for the codes.
export { PoolError, errnoCode, fromZodError, isPoolError, type PoolErrorCode } from "./errors.js";

// Options: one parser for every factory, refusing unknown options with a suggestion.
export { parseOptions } from "./options.js";

// The pool: open it, lease credentials from it, and report how requests went.
export {
  DEFAULT_STRATEGY,
  KNOWN_PROVIDERS,
  assertProviderName,
  checkAvailability,
  chooseCredential,
  findCredential,
  formatQuotaWindow,
  getProviderDefaults,
  headroomOf,
  isStaleWindow,
  listCredentialViews,
  listCredentials,
  maskSecret,
  openPool,
  orderCredentials,
  parseDuration,
  parseQuotaWindows,
  quotaWindowViews,
  redactValues,
  resolveTarget,
  sanitizeMessage,
  secretValuesOf,
  stripControlCharacters,
  type AddCredentialInput,
  type CredentialRefresher,
  type CredentialView,
  type FailureReport,
  type Lease,
  type LeaseOptions,
  type LeaseOutcome,
  type Pool,
  type PoolEvent,
  type PoolOptions,
  type QuotaReading,
  type QuotaWindow,
  type QuotaWindowView,
  type SelectOptions,
} from "./pool/index.js";

// Storage: the pool document and its schema, the backend contract, the file and memory backends and the watched
// snapshot.
export {
  POOL_FILE_NAME,
  SECRET_RELEASE_MODES,
  STRATEGIES,
  acquireFileLock,
  createDocumentFileBackend,
  createEmptyPoolDocument,
  createFileBackend,
  createMemoryBackend,
  credentialSecretsSchema,
  openSnapshot,
  parseDocument,
  poolDocumentSchema,
  publishDocument,
  readDocumentText,
  resolvePoolOption,
  resolvePoolPath,
  secretReleaseOf,
  serializeDocument,
  type BackendCapabilities,
  type Credential,
  type CredentialQuota,
  type CredentialSecrets,
  type CredentialStatus,
  type DocumentBackend,
  type DocumentChange,
  type DocumentHeader,
  type FileBackend,
  type FileBackendOptions,
  type LockOptions,
  type MemoryBackendOptions,
  type Mutator,
  type NamedLock,
  type PoolBackend,
  type PoolDocument,
  type ReadResult,
  type SecretRelease,
  type Snapshot,
  type Strategy,
  type StoredQuotaWindow,
  type WriteInfo,
} from "./store/index.js";

// OAuth refresh: the single-flight refresher and what a credential's refresh state says.
export {
  createRefresher,
  fingerprintToken,
  ownershipOf,
  refreshStateOf,
  reloginAdvice,
  sourceLinkOf,
  type Refresher,
} from "./refresh/index.js";

// Sources: Claude Code, Codex, hermes and env credentials; sync, write-back and watching.
export {
  CLAUDE_CODE_KEYCHAIN_SERVICE,
  importClaudeCodeKeychain,
  readClaudeCodeKeychain,
  usesKeychain,
  writeClaudeCodeKeychain,
  type CommandRunner,
  type KeychainImport,
  type KeychainOptions,
  createLinkedRefresher,
  createSourceLinks,
  defaultSourceSpecs,
  linkedSourceSpecs,
  sourcePathOf,
  syncSources,
  watchLinkedSources,
  watchSources,
  type SourceSpec,
  type SourceWatcher,
  type SyncChange,
  type SyncResult,
} from "./sources/index.js";

// The TOTP gate for privileged operations, its setup and its audit log.
export {
  AUDIT_LOG_FILE_NAME,
  AUTH_STATE_FILE_NAME,
  authStateDocumentSpec,
  beginTotpSetup,
  confirmTotpSetup,
  createAuditFileSink,
  createTotpGate,
  describeSecretCommandSetup,
  fingerprintSecret,
  formatWait,
  generateTotpCode,
  generateTotpSecret,
  ensurePoolGateRecord,
  maskPrincipal,
  readPoolGate,
  resetTotp,
  tightenTotpConfig,
  type AuditSink,
  type BeginTotpSetupResult,
  type TotpGate,
  type TotpGateOptions,
  type TotpStatus,
} from "./auth/index.js";

// Logging in: PKCE and device-code flows; the credential is credpool's own (source `login`).
export {
  LOGIN_SOURCE,
  checkAnswer,
  exchangeCode,
  parsePastedAnswer,
  resolveLoginProfile,
  runDeviceFlow,
  saveLogin,
  startAuthorization,
  startLoopback,
  type DeviceAuthorization,
  type LoginConfig,
  type LoginFlow,
  type LoginGrant,
  type LoginProfile,
  type LoopbackServer,
  type PendingAuthorization,
  type SaveLoginResult,
} from "./login/index.js";

// Settings: config.json with CREDPOOL_* overrides.
export {
  loadCredpoolConfig,
  proxyConfigSchema,
  resolveStoreChoice,
  storeConfigSchema,
  storeSslSchema,
  type StoreChoice,
  type StoreConfig,
  type StoreSslConfig,
  type ConfigWarning,
  type LoadedConfig,
  type ProxyConfig,
  type ProxyConfigInput,
} from "./config/index.js";

// `credpool doctor`: findings about the files around a pool, and the safe repairs.
export {
  inspectConfig,
  inspectPool,
  repairPool,
  restorePoolBackup,
  type DoctorFinding,
  type RepairAction,
  type RestoreResult,
} from "./doctor/index.js";

// Usage accounting: token counts of proxied requests in usage.json, batched, and the report with optional prices.
export {
  USAGE_FILE_NAME,
  USAGE_GROUPINGS,
  USAGE_RETENTION_MS,
  createUsageRecorder,
  findPrice,
  openUsageBackend,
  pricesConfigSchema,
  summarizeUsage,
  usagePathFor,
  type ModelPrice,
  type PriceTable,
  type TokenCounts,
  type UsageBucket,
  type UsageDocument,
  type UsageEntry,
  type UsageGrouping,
  type UsageRecorder,
  type UsageRow,
} from "./usage/index.js";
