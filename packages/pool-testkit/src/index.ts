// Private fixtures for credpool's tests and benchmarks: temp pools and real child processes.
export { createTempDir, type TempDir } from "./temp-dir.js";
export { spawnChild, startTogether, type ChildHandle, type ChildExit, type SpawnChildOptions } from "./child.js";
export {
  startFakeTokenServer,
  type FakeApproval,
  type FakeAuthorizeRequest,
  type FakeDeviceSetup,
  type FakeDeviceStep,
  type FakeTokenBehavior,
  type FakeTokenCall,
  type FakeTokenServer,
  type FakeTokenServerOptions,
  type IssuedTokens,
} from "./fake-token-server.mjs";
export { nodeWithFileSizeLimit } from "./file-size-limit.js";
export {
  startFakeUpstream,
  type FakeUpstream,
  type FakeUpstreamBehavior,
  type FakeUpstreamOptions,
  type FakeUpstreamRequest,
} from "./fake-upstream.mjs";
