// The TOTP gate for privileged operations: secret store, verifier, attempts and lockouts in auth-state.json,
// in-memory sessions, audit events, and setup/reset. Everything else in this folder is private to it.
export {
  AUDIT_EVENT_TYPES,
  AUDIT_LOG_FILE_NAME,
  createAuditFileSink,
  createAuditThrottle,
  maskPrincipal,
  type AuditEvent,
  type AuditEventType,
  type AuditFileSink,
  type AuditSink,
  type AuditThrottle,
} from "./audit.js";
export {
  AUTH_STATE_FILE_NAME,
  applyAttempt,
  attemptLimitsFrom,
  authStateDocumentSpec,
  authStateSchema,
  createEmptyAuthState,
  findActiveBlock,
  type AttemptLimits,
  type AttemptVerdict,
  type AuthStateDocument,
  type PrincipalAuthState,
  type TotpSecretKind,
} from "./auth-state.js";
export {
  createTotpGate,
  type AuthorizeMethod,
  type TotpGate,
  type TotpGateOptions,
  type TotpGateState,
  type TotpInspection,
  type TotpStatus,
  type VerifyResult,
} from "./gate.js";
export { formatWait } from "./gate-errors.js";
export { readPoolGate, updatePoolGate } from "./pool-gate.js";
export { openRegularFile, readRegularFile } from "./regular-file.js";
export { tightenTotpConfig, type IgnoredTotpOverride } from "./strict-config.js";
export { runSecretCommand } from "./secret-command.js";
export { fingerprintSecret, readSecretFile, readTotpSecret, type SecretReadResult } from "./secret-store.js";
export { type TotpChallenge, type TotpSession } from "./sessions.js";
export {
  beginTotpSetup,
  confirmTotpSetup,
  describeSecretCommandSetup,
  ensurePoolGateRecord,
  recordGateInPool,
  resetTotp,
  type BeginTotpSetupResult,
  type ConfirmTotpSetupResult,
  type ResetTotpResult,
} from "./setup.js";
export {
  TOTP_DIGITS,
  TOTP_ISSUER,
  TOTP_PERIOD_SECONDS,
  TOTP_SECRET_BYTES,
  TOTP_WINDOW,
  buildTotpUri,
  currentTotpStep,
  findTotpStep,
  generateTotpCode,
  generateTotpSecret,
  isWellFormedCode,
  parseBase32Secret,
} from "./verifier.js";
