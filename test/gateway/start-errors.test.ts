// What `pnpm start` says when it cannot start: usage errors exit 2 with a pointer to --help, and a taken port or
// socket path names itself and what to do. Nothing is served and no stack trace is printed.
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { openPool } from "@credpool/pool-core";
import { createTempDir, spawnChild, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning, startGatewayProcess, type GatewayProcess } from "./gateway-process.js";

const mainScript = fileURLToPath(new URL("../../packages/pool-gateway/dist/main.js", import.meta.url));

describe("gateway start-up errors", () => {
  let dir: TempDir | undefined;
  let running: GatewayProcess | undefined;
  afterEach(async () => {
    if (running && isRunning(running.child)) running.child.kill("SIGKILL");
    running = undefined;
    await dir?.remove();
  });

  async function start(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawnChild(mainScript, ["--pool", dir!.file("pool.json"), ...args]);
    const { code } = await child.exited;
    return { code, stderr: child.stderr() };
  }

  it("refuses bad options with exit 2 and a pointer to --help", async () => {
    dir = await createTempDir("credpool-gateway-start-");
    const unknown = await start(["--bogus"]);
    expect(unknown).toEqual({ code: 2, stderr: expect.stringContaining("Unknown option '--bogus'") as string });
    expect(unknown.stderr).toContain("Run `credpool-gateway --help`");
    const port = await start(["--port", "seventy"]);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be an integer from 0 to 65535, got "seventy"');
    const remote = await start(["--host", "0.0.0.0", "--port", "0"]);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain("pass --allow-remote together with --tls-cert and --tls-key");
    const connections = await start(["--max-connections", "0"]);
    expect(connections.code).toBe(2);
    expect(connections.stderr).toContain('--max-connections must be a positive integer, got "0"');
    for (const result of [unknown, port, remote, connections]) expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a pool.json that is a symlink, naming it and its target, and serves it with --allow-symlink", async () => {
    dir = await createTempDir("credpool-gateway-start-");
    const target = dir.file("real.json");
    const seed = await openPool({ file: { path: target } });
    await seed.update(() => undefined);
    await seed.close();
    const before = await readFile(target, "utf8");
    await mkdir(dir.file("linked"), { mode: 0o700 });
    const link = dir.file("linked/pool.json");
    await symlink(target, link);
    const child = spawnChild(mainScript, ["--pool", link, "--port", "0"]);
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(child.stderr()).toContain(`Refusing ${link}: it is a symbolic link to ${target}`);
    expect(child.stderr()).toContain("--allow-symlink");
    expect(await readFile(target, "utf8")).toBe(before);

    running = await startGatewayProcess(link, {}, ["--allow-symlink"]);
    expect(running.child.stderr()).toContain(`(pool: ${link})`);
  });

  it("names a port another gateway holds, and a socket path that already exists", async () => {
    dir = await createTempDir("credpool-gateway-start-");
    running = await startGatewayProcess(dir.file("pool.json"));
    const taken = new URL(running.url).port;
    const clash = await start(["--port", taken]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain(`127.0.0.1:${taken} is already in use (another gateway?)`);

    const socketPath = dir.file("gateway.sock");
    await writeFile(socketPath, "");
    const socket = await start(["--socket", socketPath]);
    expect(socket.code).toBe(1);
    expect(socket.stderr).toContain(`${socketPath} already exists`);
    expect(isRunning(running.child)).toBe(true);
  });
});
