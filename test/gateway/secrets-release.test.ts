// A pool whose settings.secrets.release is "never" hands out no key over the gateway API either: the setting is in the
// pool document, so the gateway process obeys what the CLI set.
import { openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const API_KEY = "sk-FIXTUREneverReleasedKEY-0123456789abcdefghijklm";

describe("POST /v1/leases when the pool's keys never leave credpool", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await dir?.remove();
  });

  it("answers 403 E_SECRETS_NEVER_RELEASED naming the setting, with no key in the body or the log", async () => {
    dir = await createTempDir("credpool-gateway-never-");
    const seed = await openPool({ file: { path: dir.file("pool.json"), createIfMissing: true } });
    await seed.add({ provider: "anthropic", label: "kept", secrets: { apiKey: API_KEY } });
    await seed.setSecretRelease("never");
    await seed.close();
    const tokens = createTokenStore({ dir: dir.path });
    const { token } = await tokens.create("worker", "lease");
    await tokens.close();

    gateway = await startGatewayProcess(dir.file("pool.json"));
    const response = await fetch(`${gateway.url}/v1/leases`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"provider":"anthropic"}',
    });
    const text = await response.text();
    expect(response.status).toBe(403);
    const body = JSON.parse(text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("E_SECRETS_NEVER_RELEASED");
    expect(body.error.message).toContain("settings.secrets.release");
    expect(text).not.toContain(API_KEY);
    expect(findSecretLines(gateway.child, [API_KEY])).toEqual([]);
  });
});
