// OAuth refresh: provider adapters (anthropic, openai-codex, generic OAuth2) and the single-flight refresher.
export {
  ADAPTER_KINDS,
  adapterOptionsSchema,
  applyGrant,
  buildRefreshBody,
  checkTokenUrl,
  parseTokenGrant,
  resolveTokenEndpoint,
  skewFor,
  type AdapterKind,
  type AdapterOptions,
  type TokenBodyStyle,
  type TokenEndpoint,
  type TokenGrant,
} from "./adapters.js";
export { decodeJwtPayload, jwtExpiresAt, openaiAccountId } from "./jwt.js";
export {
  createRefresher,
  refresherConfigSchema,
  type Refresher,
  type RefresherConfig,
  type RefresherOptions,
  type RefreshRequest,
  type RefreshResult,
  type SourceLinks,
} from "./refresher.js";
export {
  postRefreshRequest,
  REFRESH_TERMINAL_REASONS,
  type TokenCallResult,
  type TokenRequestOptions,
} from "./token-request.js";
export {
  accessTokenExpiresAt,
  describeCredential,
  fingerprintToken,
  isAccessTokenExpired,
  isClearedByNewTokens,
  isRefreshDue,
  isSpentRefreshToken,
  ownershipOf,
  refreshLockName,
  refreshStateOf,
  refreshStateSchema,
  reloginAdvice,
  rememberUsedToken,
  sourceLinkOf,
  updateRefreshState,
  type Ownership,
  type RefreshInFlight,
  type RefreshState,
  type SourceLink,
} from "./token-state.js";
