// In-process suites run the workspace packages from `src`, so an edit is tested without a build: each package
// specifier resolves to the very module a relative import of the source gets (see vitest.config.ts).
import { describe, expect, it } from "vitest";
import * as core from "@credpool/pool-core";
import * as cli from "@credpool/pool-cli";
import * as gateway from "@credpool/pool-gateway";
import * as gatewayTokens from "@credpool/pool-gateway/tokens";
import * as coreErrors from "../packages/pool-core/src/errors.js";
import * as cliExitCodes from "../packages/pool-cli/src/exit-codes.js";
import * as gatewayHandler from "../packages/pool-gateway/src/handler.js";
import * as gatewayTokenSource from "../packages/pool-gateway/src/tokens.js";

describe("workspace packages in in-process suites", () => {
  it("load @credpool/pool-core from its source, so PoolError is one class across both imports", () => {
    expect(core.PoolError).toBe(coreErrors.PoolError);
  });

  it("load @credpool/pool-cli and @credpool/pool-gateway (and its ./tokens entry) from their source", () => {
    expect(cli.exitCodeFor).toBe(cliExitCodes.exitCodeFor);
    expect(gateway.createGatewayHandler).toBe(gatewayHandler.createGatewayHandler);
    expect(gatewayTokens.createTokenStore).toBe(gatewayTokenSource.createTokenStore);
  });
});
