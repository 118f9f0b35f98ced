// The gateway applies the TOTP gate as the CLI does: CREDPOOL_TOTP_* in its environment may only tighten what the
// protected directory's config.json says. A real gateway process, a real TOTP secret, real wrong codes.
import { writeFile } from "node:fs/promises";
import { beginTotpSetup, confirmTotpSetup, generateTotpCode, openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

function codeFor(secret: string, offsetSteps = 0): string {
  return generateTotpCode({ secret, algorithm: "SHA1", timestamp: Date.now() + offsetSteps * 30_000 });
}

/** A code that matches no step near now. */
function wrongCode(secret: string): string {
  const near = new Set([-2, -1, 0, 1, 2].map((offset) => codeFor(secret, offset)));
  for (let n = 0; ; n++) {
    const code = String(100_000 + n * 7919).slice(-6);
    if (!near.has(code)) return code;
  }
}

describe("the gateway's TOTP settings", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await dir?.remove();
  });

  it("CREDPOOL_TOTP_LOCKOUT_ATTEMPTS=100 in its environment does not allow more than config.json's 3 wrong codes", async () => {
    dir = await createTempDir("credpool-gateway-totp-env-");
    const poolPath = dir.file("pool.json");
    const seed = await openPool({ file: { path: poolPath } });
    await seed.add({
      provider: "anthropic",
      label: "work",
      secrets: { apiKey: "sk-FIXTUREgatewayTotpEnv-0123456789abcdefghij" },
    });
    await seed.close();
    await writeFile(dir.file("config.json"), JSON.stringify({ totp: { lockoutAttempts: 3 } }), { mode: 0o600 });
    const { secret } = await beginTotpSetup({ home: dir.path, label: "test" });
    await confirmTotpSetup({ home: dir.path, principal: "test-setup", code: codeFor(secret) });
    const tokens = createTokenStore({ dir: dir.path });
    const operator = await tokens.create("operator", "admin");
    await tokens.close();

    gateway = await startGatewayProcess(poolPath, {
      CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "100",
      CREDPOOL_TOTP_BURST_ATTEMPTS: "1000",
    });
    const url = gateway.url;
    const openSession = async (code: string): Promise<number> => {
      const response = await fetch(`${url}/v1/admin/session`, {
        method: "POST",
        headers: { authorization: `Bearer ${operator.token}`, "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
      await response.arrayBuffer();
      return response.status;
    };

    const statuses: number[] = [];
    for (let guess = 0; guess < 5; guess++) statuses.push(await openSession(wrongCode(secret)));
    // Two refusals, then the third wrong code locks the operator out (423), as config.json says.
    expect(statuses).toEqual([401, 401, 423, 423, 423]);
    // Even the right code is refused now.
    expect(await openSession(codeFor(secret, 1))).toBe(423);
    const ignored = gateway.child.messages.filter((line) => (line as { event?: string }).event === "config.ignored");
    expect(JSON.stringify(ignored)).toContain("CREDPOOL_TOTP_LOCKOUT_ATTEMPTS=100 is ignored");
  });
});
