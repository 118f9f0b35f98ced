// The gateway's start-up log names every key of config.json it ignores, with the file, once; it still starts.
import { writeFile } from "node:fs/promises";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

interface ConfigWarningLine {
  readonly event?: string;
  readonly level?: number;
  readonly key?: string;
  readonly file?: string;
  readonly msg?: string;
}

describe("gateway start-up log", () => {
  let dir: TempDir | undefined;
  let running: GatewayProcess | undefined;
  afterEach(async () => {
    if (running && isRunning(running.child)) running.child.kill("SIGKILL");
    running = undefined;
    await dir?.remove();
  });

  it("warns once about each unknown config.json key, naming the key and the file, and serves anyway", async () => {
    dir = await createTempDir("credpool-gateway-config-");
    const file = dir.file("config.json");
    await writeFile(file, JSON.stringify({ totp: { lockoutAtempts: 5 }, refresh: { timeoutMs: 5000 } }), {
      mode: 0o600,
    });
    running = await startGatewayProcess(dir.file("pool.json"));
    const warnings = (running.child.messages as ConfigWarningLine[]).filter((line) => line.event === "config.warning");
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 40,
        key: "totp.lockoutAtempts",
        file,
        msg: `unknown key \`totp.lockoutAtempts\` in ${file} is ignored; did you mean \`totp.lockoutAttempts\`?`,
      }),
    ]);
    const health = await fetch(`${running.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
