// Failure 6 (frozen event loop): the secret command runs asynchronously, with no shell and a timeout. A command that
// never answers gives a clear error, and the event loop keeps running meanwhile. The precise delay is a bench figure
// (bench/groups/totp.mjs); here the bound is generous because the property is "not blocked", not "fast".
import { writeFile } from "node:fs/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTotpGate, isPoolError } from "@credpool/pool-core";
import { runSecretCommand } from "../../src/auth/index.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { TEST_SECRET, codeAt, seedConfiguredTotp } from "./totp-fixture.js";

describe("secret command", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await createTempDir();
  });
  afterEach(async () => dir.remove());

  it("times out with a clear E_TOTP_STATE while a concurrent probe sees the event loop keep running", async () => {
    await seedConfiguredTotp(dir.path);
    const gate = createTotpGate({
      home: dir.path,
      config: { secretCommand: ["sleep", "30"], secretCommandTimeoutMs: 1500 },
    });
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    histogram.enable();
    const startedAt = performance.now();
    let failure: unknown;
    try {
      await gate.verify("alice", codeAt(Date.now()));
    } catch (error) {
      failure = error;
    } finally {
      histogram.disable();
      clearInterval(ticker);
      await gate.close();
    }
    const elapsedMs = performance.now() - startedAt;

    expect(isPoolError(failure, "E_TOTP_STATE")).toBe(true);
    const message = (failure as Error).message;
    expect(message).toContain("`sleep 30`");
    expect(message).toMatch(/did not answer within 1500 ms/);
    expect(message).toMatch(/Access is denied|access is denied/);
    // The timer kept firing for the whole wait (a blocked loop would deliver one late tick at the end)...
    expect(ticks).toBeGreaterThan((elapsedMs / 20) * 0.5);
    // ...and no single turn of the loop took long. 200 ms is far above noise and far below the 1.5 s hang.
    expect(histogram.max / 1e6).toBeLessThan(200);
  });

  it("trims stdout and uses no shell: arguments reach the program literally", async () => {
    const file = dir.file("secret with space $(whoami).txt");
    await writeFile(file, `  ${TEST_SECRET}\n\n`);
    await expect(runSecretCommand(["cat", file], 5000)).resolves.toBe(TEST_SECRET);
  });

  it("reports a program that does not exist, and tells the user to use an absolute path", async () => {
    await expect(runSecretCommand(["/nonexistent/credpool-secret"], 5000)).rejects.toMatchObject({
      code: "E_TOTP_STATE",
      message: expect.stringMatching(/not found.*absolute path/s) as unknown,
    });
  });

  it("does not repeat a secret the command printed on stderr", async () => {
    const file = dir.file("secret");
    await writeFile(file, `${TEST_SECRET}\n`);
    const failure = runSecretCommand(["sh", "-c", `cat ${file} >&2; exit 3`], 5000);
    await expect(failure).rejects.toMatchObject({ code: "E_TOTP_STATE" });
    const message = await failure.catch((error: Error) => error.message);
    expect(message).toMatch(/exited with status 3/);
    expect(message).not.toContain(TEST_SECRET);
  });

  it("verifies with a secret from a command", async () => {
    const secretFile = dir.file("root-owned-stand-in");
    await writeFile(secretFile, `${TEST_SECRET}\n`);
    await seedConfiguredTotp(dir.path);
    const gate = createTotpGate({ home: dir.path, config: { secretCommand: ["cat", secretFile] } });
    try {
      await expect(gate.verify("alice", codeAt(Date.now()))).resolves.toMatchObject({ principal: "alice" });
    } finally {
      await gate.close();
    }
  });
});
