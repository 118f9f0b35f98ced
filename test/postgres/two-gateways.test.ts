// Two gateway processes, each with its own CREDPOOL_HOME so that nothing is shared but the database, serve one
// PostgreSQL pool (CREDPOOL_STORE). A credential capped at 2 concurrent leases keeps its cap across both, and
// `credpool list` with the same variable shows the same pool.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createPostgresBackend, createPostgresDocumentStore } from "@credpool/pool-postgres";
import { createTempDir } from "@credpool/pool-testkit";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "../gateway/gateway-process.js";
import { PG_AVAILABLE, PG_URL, dropSchema, uniqueSchema } from "./pg-server.js";

const cli = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));
const API_KEY = "sk-FIXTUREpgGatewaysKEY-0123456789abcdefghijklm";
const CAP = 2;
const CLIENTS = 6;
const GRANTS = 60;
const HANG_GUARD_MS = 40_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Interval {
  readonly start: number;
  readonly end: number;
  readonly gateway: number;
}

function maxOverlap(intervals: readonly Interval[]): number {
  const events = intervals.flatMap((i) => [
    { at: i.start, delta: 1 },
    { at: i.end, delta: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let max = 0;
  for (const event of events) {
    open += event.delta;
    max = Math.max(max, open);
  }
  return max;
}

describe.skipIf(!PG_AVAILABLE)("two gateways on two homes sharing one PostgreSQL pool", () => {
  const schema = uniqueSchema("gateways");
  afterAll(() => dropSchema(schema));

  it(`serve leases from the database and hold a cap of ${CAP} across both`, async () => {
    const dir = await createTempDir("credpool-pg-gateways-");
    let gateways: GatewayProcess[] = [];
    const backend = createPostgresBackend({ url: PG_URL, schema });
    try {
      const seed = await openPool({ backend });
      await seed.add({ provider: "capped", label: "capped-key", maxConcurrent: CAP, secrets: { apiKey: API_KEY } });
      await seed.close();
      const env = { CREDPOOL_STORE: PG_URL, CREDPOOL_STORE_SCHEMA: schema };
      const homes = [join(dir.path, "host-a"), join(dir.path, "host-b")];
      const tokens: string[] = [];
      // Client tokens are a document of the database too: any host may make them.
      const documents = createPostgresDocumentStore({ url: PG_URL, schema });
      for (const [i, home] of homes.entries()) {
        const store = createTokenStore({ dir: home, documents });
        tokens.push((await store.create(`worker-${i}`, "lease")).token);
        await store.close();
      }
      gateways = await Promise.all(
        homes.map((home) => startGatewayProcess(join(home, "pool.json"), { ...env, CREDPOOL_HOME: home })),
      );

      const intervals: Interval[] = [];
      const unexpected: string[] = [];
      let refusals = 0;
      const guardUntil = Date.now() + HANG_GUARD_MS;
      const client = async (index: number): Promise<void> => {
        for (let round = 0; intervals.length < GRANTS && unexpected.length === 0; round++) {
          if (Date.now() > guardUntil) throw new Error(`only ${intervals.length} leases before the hang guard`);
          const gateway = (index + round) % 2;
          const url = gateways[gateway]!.url;
          const headers = { authorization: `Bearer ${tokens[gateway]}`, "content-type": "application/json" };
          const leased = await fetch(`${url}/v1/leases`, { method: "POST", headers, body: '{"provider":"capped"}' });
          const body = (await leased.json()) as { leaseId?: string; error?: { code: string } };
          if (leased.status === 503 && body.error?.code === "E_NO_CREDENTIAL") {
            refusals++;
            await sleep(1 + Math.random() * 4);
            continue;
          }
          if (leased.status !== 201 || !body.leaseId) {
            unexpected.push(`lease via gateway ${gateway}: HTTP ${leased.status} ${JSON.stringify(body)}`);
            return;
          }
          const start = performance.now();
          await sleep(10 + Math.random() * 60);
          intervals.push({ start, end: performance.now(), gateway });
          const released = await fetch(`${url}/v1/leases/${body.leaseId}/release`, {
            method: "POST",
            headers,
            body: '{"outcome":"ok"}',
          });
          if (released.status !== 200) unexpected.push(`release: HTTP ${released.status} ${await released.text()}`);
          else await released.arrayBuffer();
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));

      expect(unexpected).toEqual([]);
      expect(maxOverlap(intervals)).toBeLessThanOrEqual(CAP);
      // Teeth: the cap was under pressure and both gateways granted leases.
      expect(maxOverlap(intervals)).toBe(CAP);
      expect(refusals).toBeGreaterThan(0);
      for (const gateway of [0, 1]) expect(intervals.some((i) => i.gateway === gateway)).toBe(true);

      for (const gateway of gateways) gateway.child.kill("SIGTERM");
      for (const gateway of gateways) expect(await gateway.child.exited).toEqual({ code: 0, signal: null });
      const credential = (await backend.read()).doc.providers.capped?.credentials[0];
      expect(credential?.leases ?? []).toEqual([]);
      expect(credential?.usage.requests).toBe(intervals.length);
      for (const [i, gateway] of gateways.entries()) {
        expect(findSecretLines(gateway.child, [API_KEY, tokens[i]!])).toEqual([]);
      }

      // The CLI on a third home sees the same pool through the same variable.
      const listed = await promisify(execFile)(process.execPath, [cli, "list", "--json"], {
        env: { ...process.env, ...env, CREDPOOL_HOME: join(dir.path, "host-c") },
      });
      expect(listed.stdout).toContain("capped-key");
    } finally {
      for (const gateway of gateways) if (isRunning(gateway.child)) gateway.child.kill("SIGKILL");
      await backend.close();
      await dir.remove();
    }
  });
});
