// The gateway's `--pool` accepts what the CLI's accepts (one resolver in pool-core): a directory means the
// pool.json inside it.
import { openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const API_KEY = "sk-FIXTUREpoolOptionKEY-0123456789abcdefghijklmno";

describe("the gateway's --pool", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await dir?.remove();
  });

  it("serves <dir>/pool.json when given a directory", async () => {
    dir = await createTempDir("credpool-gateway-pool-dir-");
    const seed = await openPool({ file: { path: dir.file("pool.json"), createIfMissing: true } });
    await seed.add({ provider: "anthropic", label: "in-the-dir", secrets: { apiKey: API_KEY } });
    await seed.close();
    const tokens = createTokenStore({ dir: dir.path });
    const { token } = await tokens.create("worker", "lease");
    await tokens.close();

    gateway = await startGatewayProcess(dir.path);
    expect(gateway.child.stderr()).toContain(`(pool: ${dir.file("pool.json")})`);
    const leased = await fetch(`${gateway.url}/v1/leases`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"provider":"anthropic"}',
    });
    expect(leased.status).toBe(201);
    expect(await leased.json()).toMatchObject({ label: "in-the-dir", token: API_KEY });
  });
});
