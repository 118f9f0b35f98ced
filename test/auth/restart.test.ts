// Failure 7 (lockouts that vanish): a lockout is state on disk, not memory, so a new process still honours it.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createTempDir, spawnChild, startTogether, type TempDir } from "@credpool/pool-testkit";
import { codeAt, seedConfiguredTotp, wrongCodes } from "../../packages/pool-core/test/auth/totp-fixture.js";

const verifier = fileURLToPath(new URL("../children/totp-verifier.mjs", import.meta.url));

interface VerifyOutcome {
  outcome: string;
  retryAfterMs: number | null;
}

async function verifyInNewProcess(home: string, codes: string[]): Promise<VerifyOutcome[]> {
  const child = spawnChild(verifier, ["--home", home, "--codes", codes.join(","), "--principal", "admin"]);
  await startTogether([child]);
  const report = await child.waitFor<{ done: boolean; results: VerifyOutcome[] }>((m) => m.done);
  expect((await child.exited).code).toBe(0);
  return report.results;
}

describe("lockout across restarts", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it("a lockout started by one process refuses a valid code in a later process, with the time left", async () => {
    dir = await createTempDir();
    await seedConfiguredTotp(dir.path);
    const first = await verifyInNewProcess(dir.path, wrongCodes(3, Date.now()));
    expect(first.map((result) => result.outcome).sort()).toEqual(["E_TOTP_INVALID", "E_TOTP_INVALID", "E_TOTP_LOCKED"]);

    // The first process has exited; nothing of it is left in memory anywhere.
    const [second] = await verifyInNewProcess(dir.path, [codeAt(Date.now())]);
    expect(second?.outcome).toBe("E_TOTP_LOCKED");
    expect(second?.retryAfterMs).toBeGreaterThan(14 * 60_000);
    expect(second?.retryAfterMs).toBeLessThanOrEqual(15 * 60_000);
  });
});
