// Quota windows survive a gateway restart (issue 13, test 8, the quota half): a real gateway process proxies a
// request whose upstream answer carries Anthropic's unified rate-limit headers; the windows reach the pool file with
// the batched flush (on SIGTERM, or already before a SIGKILL), and a new gateway process and `credpool list --json`
// still show them.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning, startGatewayProcess, type GatewayProcess } from "../gateway/gateway-process.js";
import { startProxyWorld, type ProxyWorld } from "./world.js";

const KEY = "sk-ant-api03-FIXTUREquotaRESTART-0123456789abcdefghij";
const CLI = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));
const run = promisify(execFile);

interface WindowJson {
  name: string;
  utilisation: number | null;
  resetAt: number | string | null;
  status: string | null;
  stale: boolean;
  text: string;
}

async function exited(gateway: GatewayProcess): Promise<void> {
  if (!isRunning(gateway.child)) return;
  await new Promise((resolve) => gateway.child.process.once("exit", resolve));
}

describe("quota windows across a gateway restart", () => {
  let world: ProxyWorld | undefined;
  let second: GatewayProcess | undefined;
  afterEach(async () => {
    if (second && isRunning(second.child)) second.child.kill("SIGKILL");
    second = undefined;
    await world?.stop();
    world = undefined;
  });

  it.each<["SIGTERM" | "SIGKILL"]>([["SIGTERM"], ["SIGKILL"]])(
    "after %s, /v1/pool and credpool list --json still show the windows",
    async (signal) => {
      world = await startProxyWorld({
        credentials: [{ provider: "anthropic", label: "claude", secrets: { apiKey: KEY } }],
      });
      // Whole seconds, as the header carries them; the 7d reset is days away, so it shows a date.
      const fiveHourReset = (Math.floor(Date.now() / 1000) + 3 * 3600) * 1000;
      const sevenDayReset = (Math.floor(Date.now() / 1000) + 5 * 86_400) * 1000;
      world.upstream.behave(KEY, {
        type: "ok",
        headers: {
          "anthropic-ratelimit-unified-status": "allowed",
          "anthropic-ratelimit-unified-5h-status": "allowed",
          "anthropic-ratelimit-unified-5h-utilization": "0.62",
          "anthropic-ratelimit-unified-5h-reset": String(fiveHourReset / 1000),
          "anthropic-ratelimit-unified-7d-status": "allowed",
          "anthropic-ratelimit-unified-7d-utilization": "0.4",
          "anthropic-ratelimit-unified-7d-reset": String(sevenDayReset / 1000),
          "anthropic-ratelimit-unified-representative-claim": "five_hour",
        },
      });
      const response = await fetch(`${world.gateway.url}/anthropic/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": world.token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-fake-1", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
      });
      expect(response.status).toBe(200);
      await response.arrayBuffer();

      if (signal === "SIGKILL") {
        // Nothing graceful happens on SIGKILL: the windows must already be on disk from the batched flush.
        const guardUntil = Date.now() + 15_000;
        while ((await world.credential("claude")).quota === undefined) {
          if (Date.now() > guardUntil) throw new Error("the quota windows never reached the pool file");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      world.gateway.child.kill(signal);
      await exited(world.gateway);

      const stored = (await world.credential("claude")).quota;
      expect(stored?.windows.map((window) => [window.name, window.utilisation, window.resetAt])).toEqual([
        ["5h", 0.62, fiveHourReset],
        ["7d", 0.4, sevenDayReset],
      ]);

      second = await startGatewayProcess(world.poolPath);
      const reader = await world.createToken("reader", "lease");
      const pool = (await (
        await fetch(`${second.url}/v1/pool`, { headers: { authorization: `Bearer ${reader}` } })
      ).json()) as {
        providers: Record<
          string,
          { credentials: Array<{ label: string; quota: { windows: WindowJson[]; representative?: string } }> }
        >;
      };
      const served = pool.providers.anthropic?.credentials.find((credential) => credential.label === "claude")?.quota;
      expect(served?.representative).toBe("5h");
      expect(served?.windows.map((window) => [window.name, window.utilisation, window.resetAt, window.stale])).toEqual([
        ["5h", 0.62, fiveHourReset, false],
        ["7d", 0.4, sevenDayReset, false],
      ]);
      expect(served?.windows[0]?.text).toMatch(/^5h 62% · resets \d{2}:\d{2}$/);
      expect(served?.windows[1]?.text).toMatch(/^7d 40% · resets [A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}$/);

      const { stdout } = await run(process.execPath, [CLI, "--pool", world.poolPath, "list", "--json"], {
        env: { ...process.env, NO_COLOR: "1", CREDPOOL_HOME: world.dir.path },
      });
      const listed = JSON.parse(stdout) as { credentials: Array<{ label: string; quota: WindowJson[] }> };
      const quota = listed.credentials.find((credential) => credential.label === "claude")?.quota;
      expect(quota?.map((window) => [window.name, window.utilisation, window.resetAt, window.status])).toEqual([
        ["5h", 0.62, new Date(fiveHourReset).toISOString(), "allowed"],
        ["7d", 0.4, new Date(sevenDayReset).toISOString(), "allowed"],
      ]);
      const table = await run(process.execPath, [CLI, "--pool", world.poolPath, "list", "--wide"], {
        env: { ...process.env, NO_COLOR: "1", CREDPOOL_HOME: world.dir.path },
      });
      expect(table.stdout).toMatch(/5h 62% · resets \d{2}:\d{2}, 7d 40% · resets/);
    },
  );
});
