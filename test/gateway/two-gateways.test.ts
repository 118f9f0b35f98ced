// Two gateway processes serve one pool file with a credential capped at 2 concurrent leases. Clients alternate
// between them and log when they held each lease; at no instant do more than 2 of those intervals overlap.
//
// A logged interval runs from the lease response to the release request, so it lies inside the time the lease
// record really existed: an overlap of 3 in the log is a real breach of the cap.
import { openPool, createFileBackend } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const API_KEY = "sk-FIXTUREtwoGatewaysKEY-0123456789abcdefghijklm";
const CAP = 2;
const CLIENTS = 6;
const GRANTS = 80;
// Holds longer than a commit under load, with jitter, so slots free up one at a time and the two processes interleave.
const HOLD_MIN_MS = 10;
const HOLD_SPREAD_MS = 60;
const HANG_GUARD_MS = 40_000;

interface Interval {
  readonly start: number;
  readonly end: number;
  readonly gateway: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The largest number of intervals open at one instant. Touching ends do not overlap (release sorts first). */
function maxOverlap(intervals: readonly Interval[]): number {
  const events = intervals.flatMap((interval) => [
    { at: interval.start, delta: 1 },
    { at: interval.end, delta: -1 },
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

/** Pairs of intervals from different gateways that overlap: the cap was shared across processes, not per process. */
function crossGatewayOverlaps(intervals: readonly Interval[]): number {
  let count = 0;
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i]!;
      const b = intervals[j]!;
      if (a.gateway !== b.gateway && a.start < b.end && b.start < a.end) count++;
    }
  }
  return count;
}

describe("two gateways on one pool file", () => {
  let dir: TempDir | undefined;
  let gateways: GatewayProcess[] = [];
  afterEach(async () => {
    for (const gateway of gateways) if (isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateways = [];
    await dir?.remove();
  });

  it(`never lets clients of both together hold more than ${CAP} leases of a credential capped at ${CAP}`, async ({
    annotate,
  }) => {
    dir = await createTempDir("credpool-two-gateways-");
    const poolPath = dir.file("pool.json");
    const seed = await openPool({ file: { path: poolPath } });
    await seed.add({ provider: "capped", label: "capped-key", maxConcurrent: CAP, secrets: { apiKey: API_KEY } });
    await seed.close();
    const tokens = createTokenStore({ dir: dir.path });
    const { token } = await tokens.create("worker", "lease");
    await tokens.close();

    gateways = await Promise.all([startGatewayProcess(poolPath), startGatewayProcess(poolPath)]);
    const urls = gateways.map((gateway) => gateway.url);
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

    const intervals: Interval[] = [];
    const unexpected: string[] = [];
    let refusals = 0;
    const guardUntil = Date.now() + HANG_GUARD_MS;
    const client = async (index: number): Promise<void> => {
      for (let round = 0; intervals.length < GRANTS && unexpected.length === 0; round++) {
        if (Date.now() > guardUntil) throw new Error(`only ${intervals.length} leases granted before the hang guard`);
        const gateway = (index + round) % 2;
        const url = urls[gateway]!;
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
        await sleep(HOLD_MIN_MS + Math.random() * HOLD_SPREAD_MS);
        const end = performance.now();
        intervals.push({ start, end, gateway });
        const released = await fetch(`${url}/v1/leases/${body.leaseId}/release`, {
          method: "POST",
          headers,
          body: '{"outcome":"ok"}',
        });
        if (released.status !== 200)
          unexpected.push(`release via gateway ${gateway}: HTTP ${released.status} ${await released.text()}`);
        else await released.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));

    const perGateway = [0, 1].map((gateway) => intervals.filter((interval) => interval.gateway === gateway).length);
    await annotate(
      `${intervals.length} leases (${perGateway.join(" + ")}), ${refusals} refusals, max overlap ${maxOverlap(intervals)}, ` +
        `${crossGatewayOverlaps(intervals)} cross-gateway overlapping pairs`,
    );
    expect(unexpected).toEqual([]);
    expect(maxOverlap(intervals)).toBeLessThanOrEqual(CAP);
    // The test has teeth only if the cap was under pressure: both slots in use at once, clients turned away, and
    // leases from the two processes overlapping.
    expect(maxOverlap(intervals)).toBe(CAP);
    expect(refusals).toBeGreaterThan(0);
    expect(crossGatewayOverlaps(intervals)).toBeGreaterThan(0);
    for (const count of perGateway) expect(count).toBeGreaterThan(0);

    for (const gateway of gateways) gateway.child.kill("SIGTERM");
    for (const gateway of gateways) expect(await gateway.child.exited).toEqual({ code: 0, signal: null });
    const backend = createFileBackend({ path: poolPath, createIfMissing: false });
    try {
      const credential = (await backend.read()).doc.providers.capped?.credentials[0];
      expect(credential?.leases ?? []).toEqual([]);
      expect(credential?.usage.requests).toBe(intervals.length);
    } finally {
      await backend.close();
    }
    for (const gateway of gateways) expect(findSecretLines(gateway.child, [API_KEY, token])).toEqual([]);
  });
});
