export {
  createGatewayHandler,
  type GatewayDependencies,
  type GatewayHandler,
  type GatewayRequest,
  type GatewayResponse,
} from "./handler.js";
export { startGatewayServer, type GatewayServerOptions, type RunningGateway } from "./server.js";
