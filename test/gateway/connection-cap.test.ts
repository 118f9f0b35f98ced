// Idle sockets cannot exhaust a gateway's file limit: with --max-connections 20 and a file limit a little above
// what the process needs plus 20, a client with a valid token is served after 60 idle sockets were opened.
// Without the cap the gateway accepts idle sockets until EMFILE, and then every new connection fails.
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { promisify } from "node:util";
import { openPool } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const API_KEY = "sk-FIXTUREconnectionCapKEY-0123456789abcdefghijk";
const CAP = 20;
const IDLE = 60;

function openIdle(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.on("error", () => undefined);
    socket.once("connect", () => resolve({ socket, closed }));
    socket.once("error", reject);
  });
}

describe("the gateway process under idle sockets", () => {
  let dir: TempDir | undefined;
  let gateway: GatewayProcess | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await dir?.remove();
  });

  it(`serves a valid token over a fresh connection after ${IDLE} idle sockets, with --max-connections ${CAP}`, async () => {
    dir = await createTempDir("credpool-connection-cap-");
    const poolPath = dir.file("pool.json");
    const seed = await openPool({ file: { path: poolPath } });
    await seed.add({ provider: "openrouter", label: "work", secrets: { apiKey: API_KEY } });
    await seed.close();
    const tokens = createTokenStore({ dir: dir.path });
    const { token } = await tokens.create("worker", "lease");
    await tokens.close();
    gateway = await startGatewayProcess(poolPath, {}, ["--max-connections", String(CAP)]);
    const leaseOnce = () =>
      fetch(`${gateway!.url}/v1/leases`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", connection: "close" },
        body: '{"provider":"openrouter"}',
      });
    // Warm up (lazy imports, watchers), then allow the files the process holds now plus room for the cap.
    expect((await leaseOnce()).status).toBe(201);
    const inUse = (await readdir(`/proc/${gateway.child.pid}/fd`)).length;
    const limit = inUse + CAP + 10;
    await promisify(execFile)("prlimit", ["--pid", String(gateway.child.pid), `--nofile=${limit}:${limit}`]);

    const idle = [];
    for (let i = 0; i < IDLE; i++) {
      const connection = await openIdle(Number(new URL(gateway.url).port));
      sockets.push(connection.socket);
      idle.push(connection);
    }
    const leased = await leaseOnce();
    const grant = (await leased.json()) as { token?: string };
    expect(leased.status, JSON.stringify(grant)).toBe(201);
    expect(grant.token).toBe(API_KEY);
    // The oldest idle sockets were closed to stay at the cap; the process is alive and holds no more than it may.
    await Promise.all(idle.slice(0, IDLE - CAP + 1).map((connection) => connection.closed));
    expect(isRunning(gateway.child)).toBe(true);
    expect((await readdir(`/proc/${gateway.child.pid}/fd`)).length).toBeLessThanOrEqual(inUse + CAP);
  });
});
