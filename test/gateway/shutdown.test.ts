// Graceful shutdown of a real gateway process: SIGTERM with 20 lease requests in flight. It stops accepting,
// finishes all 20, flushes usage, releases its leases and exits 0.
//
// The slow path is a real one: this test holds the pool's file lock, as another credpool process committing would,
// so the 20 leases of a capped credential queue for the lock inside the gateway until the test lets go.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { acquireFileLock, createFileBackend, openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type ChildHandle, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { findSecretLines, isRunning, startGatewayProcess, type LogLine } from "./gateway-process.js";

const API_KEY = "sk-FIXTUREshutdownKEY-0123456789abcdefghijklmnop";
const IN_FLIGHT = 20;
/** Only turns a hang into a readable failure; nothing asserts how fast anything happened. */
const HANG_GUARD_MS = 20_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function inFlightCount(url: string, token: string): Promise<number> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  const match = /^credpool_http_requests_in_flight (\d+)$/m.exec(text);
  if (!match) throw new Error(`no in-flight gauge in /metrics:\n${text.slice(0, 500)}`);
  // The scrape itself is in flight while it is collected.
  return Number(match[1]) - 1;
}

function connectionRefused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

/** A pool with one credential capped at 100 leases, and a lease-scope client token for it. */
async function seedCappedPool(dir: TempDir): Promise<{ poolPath: string; token: string }> {
  const poolPath = dir.file("pool.json");
  const seed = await openPool({ file: { path: poolPath } });
  await seed.add({ provider: "capped", label: "capped-key", maxConcurrent: 100, secrets: { apiKey: API_KEY } });
  await seed.close();
  const tokens = createTokenStore({ dir: dir.path });
  const { token } = await tokens.create("worker", "lease");
  await tokens.close();
  return { poolPath, token };
}

const MAIN = fileURLToPath(new URL("../../packages/pool-gateway/dist/main.js", import.meta.url));

describe("gateway shutdown", () => {
  let dir: TempDir | undefined;
  let child: ChildHandle | undefined;
  afterEach(async () => {
    if (child && isRunning(child)) child.kill("SIGKILL");
    await dir?.remove();
  });

  it("on SIGTERM stops accepting, completes 20 in-flight leases, flushes usage, releases leases and exits 0", async () => {
    dir = await createTempDir("credpool-gateway-shutdown-");
    const { poolPath, token } = await seedCappedPool(dir);

    const gateway = await startGatewayProcess(poolPath);
    child = gateway.child;
    const { url } = gateway;

    // Hold the pool lock, so every capped lease waits inside the gateway.
    const lock = await acquireFileLock(poolPath, `${poolPath}.lock`, { staleMs: 5000, timeoutMs: 5000 });
    let lockHeld = true;
    try {
      const requests = Array.from({ length: IN_FLIGHT }, () =>
        fetch(`${url}/v1/leases`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ provider: "capped" }),
        }).then(async (response) => ({
          status: response.status,
          body: (await response.json()) as { leaseId?: string },
        })),
      );
      const guardUntil = Date.now() + HANG_GUARD_MS;
      while ((await inFlightCount(url, token)) < IN_FLIGHT) {
        if (Date.now() > guardUntil) throw new Error("the 20 requests never reached the gateway");
        await sleep(20);
      }

      child.kill("SIGTERM");
      await child.waitFor<LogLine>((line) => line.event === "gateway.stopping", HANG_GUARD_MS);
      // It logs "stopping" just before closing the listener, so a connect in between may still land: wait for the
      // refusal (a state to observe, not a retried assertion), which must come while the 20 are still held.
      const refuseBy = Date.now() + HANG_GUARD_MS;
      while (!(await connectionRefused(url))) {
        if (Date.now() > refuseBy) throw new Error("the gateway kept accepting connections after SIGTERM");
        await sleep(20);
      }
      // Stopped accepting, but still running: its 20 requests are waiting for the lock.
      expect(isRunning(child)).toBe(true);

      await lock.release();
      lockHeld = false;
      const results = await Promise.all(requests);
      expect(results.map((result) => result.status)).toEqual(Array(IN_FLIGHT).fill(201));
      expect(new Set(results.map((result) => result.body.leaseId)).size).toBe(IN_FLIGHT);
    } finally {
      if (lockHeld) await lock.release();
    }

    expect(await child.exited).toEqual({ code: 0, signal: null });
    const messages = child.messages as LogLine[];
    expect(messages.map((line) => line.event)).toContain("gateway.stopped");

    // Usage flushed and the gateway's leases released, as any other process reads the file.
    const backend = createFileBackend({ path: poolPath, createIfMissing: false });
    try {
      const { doc } = await backend.read();
      const credential = doc.providers.capped?.credentials[0];
      expect(credential?.usage.requests).toBe(IN_FLIGHT);
      expect(credential?.leases ?? []).toEqual([]);
    } finally {
      await backend.close();
    }
    expect(findSecretLines(child, [API_KEY, token])).toEqual([]);
  });

  // proper-lockfile and write-file-atomic each bring a copy of signal-exit, and write-file-atomic's installs its
  // SIGTERM listener only while a write is in progress. A copy that sees no other listener re-raises the signal,
  // so a gateway whose own listener went away after the first call died of SIGTERM mid-shutdown whenever a commit
  // was being written. Capped leases commit back to back here, so most SIGTERMs land during a write.
  it("exits 0 however its commits and the SIGTERM interleave", async () => {
    dir = await createTempDir("credpool-gateway-sigterm-");
    const { poolPath, token } = await seedCappedPool(dir);
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

    const exits: unknown[] = [];
    for (let trial = 0; trial < 8; trial++) {
      const gateway = await startGatewayProcess(poolPath);
      child = gateway.child;
      let granted = 0;
      let stopped = false;
      const worker = async (): Promise<void> => {
        while (!stopped) {
          try {
            const leased = await fetch(`${gateway.url}/v1/leases`, {
              method: "POST",
              headers,
              body: '{"provider":"capped"}',
            });
            const { leaseId } = (await leased.json()) as { leaseId?: string };
            if (!leaseId) continue;
            granted++;
            await fetch(`${gateway.url}/v1/leases/${leaseId}/release`, {
              method: "POST",
              headers,
              body: '{"outcome":"ok"}',
            }).then((r) => r.arrayBuffer());
          } catch {
            // Refused once the gateway stops accepting: expected after SIGTERM.
            await sleep(5);
          }
        }
      };
      const workers = Array.from({ length: 4 }, () => worker());
      const guardUntil = Date.now() + HANG_GUARD_MS;
      while (granted < 10 + trial * 3) {
        if (Date.now() > guardUntil) throw new Error(`only ${granted} leases before the hang guard`);
        await sleep(5);
      }
      child.kill("SIGTERM");
      const exit = await child.exited;
      stopped = true;
      await Promise.all(workers);
      exits.push({
        exit,
        stoppedLogged: (child.messages as LogLine[]).some((line) => line.event === "gateway.stopped"),
      });
    }
    expect(exits).toEqual(Array(8).fill({ exit: { code: 0, signal: null }, stoppedLogged: true }));
    const backend = createFileBackend({ path: poolPath, createIfMissing: false });
    try {
      expect((await backend.read()).doc.providers.capped?.credentials[0]?.leases ?? []).toEqual([]);
    } finally {
      await backend.close();
    }
  });
  it("still stops on SIGTERM, exit 0, when the reader of its stdout has gone (a closed pipe)", async () => {
    dir = await createTempDir("credpool-gateway-epipe-");
    const { poolPath } = await seedCappedPool(dir);
    const gateway = spawn(process.execPath, [MAIN, "--pool", poolPath, "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CREDPOOL_LOG_LEVEL: "info" },
    });
    try {
      let stderr = "";
      gateway.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      const guardUntil = Date.now() + HANG_GUARD_MS;
      while (!/listening on (http:\/\/[\d.]+:\d+)/.test(stderr)) {
        if (gateway.exitCode !== null || Date.now() > guardUntil) throw new Error(`no start: ${stderr}`);
        await sleep(20);
      }
      const url = /listening on (http:\/\/[\d.]+:\d+)/.exec(stderr)![1]!;
      // The reader goes away: every later write to the gateway's stdout fails with EPIPE.
      gateway.stdout.destroy();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => gateway.once("exit", (code) => resolve(code)));
      gateway.kill("SIGTERM");
      const code = await Promise.race([exited, sleep(HANG_GUARD_MS).then(() => "hung" as const)]);
      expect(code, stderr).toBe(0);
    } finally {
      if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill("SIGKILL");
    }
  });
});
