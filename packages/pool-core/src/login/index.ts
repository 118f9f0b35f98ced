// Logging in from credpool: PKCE and device-code flows whose credentials credpool owns.
export {
  LOGIN_FLOWS,
  loginConfigSchema,
  loginProviderSchema,
  resolveLoginProfile,
  type LoginConfig,
  type LoginFlow,
  type LoginProfile,
  type LoginProviderOptions,
} from "./config.js";
export { startLoopback, type LoopbackOptions, type LoopbackServer } from "./loopback.js";
export {
  checkAnswer,
  createPkce,
  exchangeCode,
  parsePastedAnswer,
  runDeviceFlow,
  startAuthorization,
  type AuthorizationAnswer,
  type DeviceAuthorization,
  type DeviceFlowOptions,
  type LoginGrant,
  type PendingAuthorization,
  type Pkce,
  type TokenCallOptions,
} from "./oauth.js";
export {
  LOGIN_SOURCE,
  applyLogin,
  findSameAccount,
  saveLogin,
  type SaveLoginInput,
  type SaveLoginResult,
} from "./store.js";
