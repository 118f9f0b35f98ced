// A client that fails to authenticate, run as another process (as uid nobody when the suite runs as root), never
// locks a client holding a valid token out of the gateway process, though both share 127.0.0.1.
import { execFile } from "node:child_process";
import { openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const API_KEY = "sk-FIXTUREauthNoiseKEY-0123456789abcdefghijklmnop";
const NOBODY = 65534;

// The bad client: no token, a well-formed forgery, garbage, in turn; prints its uid and the statuses it got.
const BAD_CLIENT = `
const url = process.env.GATEWAY_URL;
const attempts = Number(process.env.ATTEMPTS);
const tokens = [undefined, "cpg_abcdefabcdef_" + "Z".repeat(32), "not-a-token"];
const statuses = {};
for (let i = 0; i < attempts; i++) {
  const token = tokens[i % tokens.length];
  const response = await fetch(url + "/v1/leases", {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: "Bearer " + token } : {}) },
    body: '{"provider":"anthropic"}',
  });
  await response.arrayBuffer();
  statuses[response.status] = (statuses[response.status] ?? 0) + 1;
}
process.stdout.write(JSON.stringify({ uid: process.getuid(), statuses }));
`;

function runBadClient(url: string, attempts: number): Promise<{ uid: number; statuses: Record<string, number> }> {
  const asRoot = process.getuid?.() === 0;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", BAD_CLIENT],
      {
        cwd: "/",
        env: { PATH: process.env.PATH ?? "", GATEWAY_URL: url, ATTEMPTS: String(attempts) },
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`bad client failed: ${stderr}`, { cause: error }));
        else resolve(JSON.parse(stdout) as { uid: number; statuses: Record<string, number> });
      },
    );
  });
}

describe("failed authentications from another local process", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await dir?.remove();
  });

  for (const attempts of [3, 100]) {
    it(`leave a valid token served after ${attempts} failed attempts by a process of another user`, async () => {
      dir = await createTempDir("credpool-auth-noise-");
      const poolPath = dir.file("pool.json");
      const seed = await openPool({ file: { path: poolPath } });
      await seed.add({ provider: "anthropic", label: "work", secrets: { apiKey: API_KEY } });
      await seed.close();
      const tokens = createTokenStore({ dir: dir.path });
      const worker = await tokens.create("worker", "lease");
      const operator = await tokens.create("operator", "admin");
      await tokens.close();
      gateway = await startGatewayProcess(poolPath);

      const bad = await runBadClient(gateway.url, attempts);
      if (process.getuid?.() === 0) expect(bad.uid).toBe(NOBODY);

      const leased = await fetch(`${gateway.url}/v1/leases`, {
        method: "POST",
        headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
        body: '{"provider":"anthropic"}',
      });
      const grant = (await leased.json()) as { token?: string };
      expect(leased.status, JSON.stringify(grant)).toBe(201);
      expect(grant.token).toBe(API_KEY);
      const pool = await fetch(`${gateway.url}/v1/pool`, { headers: { authorization: `Bearer ${operator.token}` } });
      await pool.arrayBuffer();
      expect(pool.status).toBe(200);
      // The bad client was told no, and then to slow down: never anything else.
      expect(
        Object.keys(bad.statuses).every((status) => status === "401" || status === "429"),
        JSON.stringify(bad),
      ).toBe(true);
      expect(bad.statuses["401"]).toBeGreaterThan(0);
      expect(findSecretLines(gateway.child, [API_KEY, worker.token, operator.token])).toEqual([]);
    });
  }
});
