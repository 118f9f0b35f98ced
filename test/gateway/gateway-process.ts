// Real gateway processes for the multi-process suites: `node packages/pool-gateway/dist/main.js` on port 0.
import { fileURLToPath } from "node:url";
import { spawnChild, type ChildHandle } from "@credpool/pool-testkit";

const mainScript = fileURLToPath(new URL("../../packages/pool-gateway/dist/main.js", import.meta.url));

export interface GatewayProcess {
  readonly child: ChildHandle;
  readonly url: string;
}

export interface LogLine {
  readonly event?: string;
  readonly url?: string;
}

/** Starts a gateway on an ephemeral port; resolves with the URL it prints on stderr once it is listening. */
export async function startGatewayProcess(
  poolPath: string,
  env: NodeJS.ProcessEnv = {},
  args: readonly string[] = [],
): Promise<GatewayProcess> {
  const child = spawnChild(mainScript, ["--pool", poolPath, "--port", "0", ...args], {
    env: { CREDPOOL_LOG_LEVEL: "debug", ...env },
  });
  const guardUntil = Date.now() + 20_000;
  for (;;) {
    const url = /credpool gateway listening on (http:\/\/[\d.]+:\d+)/.exec(child.stderr())?.[1];
    if (url) return { child, url };
    if (!isRunning(child) || Date.now() > guardUntil) {
      child.kill("SIGKILL");
      throw new Error(`the gateway did not start listening: ${child.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Log lines (stdout) and stderr text of `child` that contain any of `secrets`. */
export function findSecretLines(child: ChildHandle, secrets: readonly string[]): string[] {
  const lines = [...child.messages.map((message) => JSON.stringify(message)), ...child.stderr().split("\n")];
  return lines.filter((line) => secrets.some((secret) => line.includes(secret)));
}

export function isRunning(child: ChildHandle): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}
