// `credpool doctor | head`: a reader that goes away must not crash a command with an EPIPE stack trace. Real
// processes on a real pipe whose read side is closed, early or after the first line.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { openPool } from "@credpool/pool-core";
import { CLI_BIN, fixtureSecret, useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();

interface ClosedRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly firstLine: string;
  readonly stderr: string;
}

/**
 * Runs credpool with stdout on a pipe whose read side is destroyed: at once (`afterFirstLine: false`), so every
 * write fails, or once the first line arrived, with far more than a pipe buffer still to come.
 */
function runWithClosedStdout(args: readonly string[], options: { afterFirstLine: boolean }): Promise<ClosedRun> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
    delete env.CREDPOOL_HOME;
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let received = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    if (options.afterFirstLine) {
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        received += chunk;
        if (received.includes("\n")) child.stdout.destroy();
      });
    } else {
      child.stdout.destroy();
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    // 'close', not 'exit': it fires once stderr has drained too.
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, firstLine: received.split("\n")[0] ?? "", stderr });
    });
  });
}

describe("a closed stdout", () => {
  it("ends `credpool list` of a large pool quietly with status 0 when the reader leaves after the first line", async () => {
    const pool = await freshPool();
    // Long labels: the listing is several pipe buffers long, so writes are still pending when the reader goes.
    const opened = await openPool({ file: { path: pool.path } });
    try {
      // All at once, so they share a few commits.
      await Promise.all(
        Array.from({ length: 2000 }, (_, index) =>
          opened.add({
            provider: "anthropic",
            label: `key-${index}-${"l".repeat(50)}`,
            secrets: { apiKey: fixtureSecret() },
          }),
        ),
      );
    } finally {
      await opened.close();
    }
    const result = await runWithClosedStdout(["--pool", pool.path, "list"], { afterFirstLine: true });
    expect(result.firstLine).toMatch(/^#\s+id\s+label/);
    expect(result.stderr).toBe("");
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
  }, 120_000);

  it.each([["doctor"], ["list"], ["watch"]])(
    "ends `credpool %s` quietly with its own status when nobody reads stdout",
    async (command) => {
      const pool = await freshPool();
      await pool.seed([{ provider: "anthropic", label: "work" }]);
      const result = await runWithClosedStdout(["--pool", pool.path, command], { afterFirstLine: false });
      expect(result.stderr).not.toMatch(/EPIPE|\n\s+at /);
      expect(result.stderr).toBe("");
      expect(result.signal).toBeNull();
      expect(result.code).toBe(0);
    },
  );
});
