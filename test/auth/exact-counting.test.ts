// Failure 1 applied to TOTP: failures from several processes at once are counted under the store's lock, so none
// is lost and the lockout starts exactly at the threshold.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createTempDir, spawnChild, startTogether, type TempDir } from "@credpool/pool-testkit";
import {
  codeAt,
  readAuthState,
  seedConfiguredTotp,
  wrongCodes,
} from "../../packages/pool-core/test/auth/totp-fixture.js";

const verifier = fileURLToPath(new URL("../children/totp-verifier.mjs", import.meta.url));

interface VerifyOutcome {
  code: string;
  outcome: string;
  retryAfterMs: number | null;
  details: { failures?: number; reason?: string } | null;
}

describe("exact failure counting across processes", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it("4 processes fail at once, 12 failures in all: exactly 12 are counted and the lockout starts at the 12th", async () => {
    dir = await createTempDir();
    const seeded = await seedConfiguredTotp(dir.path);
    const wrong = wrongCodes(12, Date.now());
    // Threshold 12 so every failure is evaluated; the burst limit is raised out of the way for the same reason.
    const env = { CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "12", CREDPOOL_TOTP_BURST_ATTEMPTS: "100" };
    const children = [0, 1, 2, 3].map((i) =>
      spawnChild(
        verifier,
        ["--home", dir.path, "--codes", wrong.slice(i * 3, i * 3 + 3).join(","), "--principal", "admin"],
        { env },
      ),
    );
    await startTogether(children);
    const reports = await Promise.all(
      children.map((child) => child.waitFor<{ done: boolean; results: VerifyOutcome[] }>((m) => m.done)),
    );
    expect((await Promise.all(children.map((child) => child.exited))).map((exit) => exit.code)).toEqual([0, 0, 0, 0]);
    const results = reports.flatMap((report) => report.results);

    // Each failure saw a distinct count 1..12: no increment was lost and none was applied twice.
    const counts = results.map((result) => result.details?.failures).sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(counts).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    // Only the 12th started the lockout; the 11 before it were plain wrong codes.
    expect(results.filter((result) => result.outcome === "E_TOTP_INVALID")).toHaveLength(11);
    const locking = results.filter((result) => result.outcome === "E_TOTP_LOCKED");
    expect(locking).toHaveLength(1);
    expect(locking[0]?.details).toMatchObject({ reason: "lockout", failures: 12 });

    const state = await readAuthState(seeded.statePath);
    expect(state.principals.admin?.failures).toBe(12);
    expect(state.principals.admin?.lockedUntil).toBeGreaterThan(Date.now());

    // And the lockout holds in yet another process, against a valid code.
    const after = spawnChild(verifier, ["--home", dir.path, "--codes", codeAt(Date.now()), "--principal", "admin"], {
      env,
    });
    await startTogether([after]);
    const report = await after.waitFor<{ done: boolean; results: VerifyOutcome[] }>((m) => m.done);
    expect(report.results[0]?.outcome).toBe("E_TOTP_LOCKED");
  });

  it("with the default threshold of 3, 12 simultaneous failures lock out after exactly 3 counted", async () => {
    dir = await createTempDir();
    const seeded = await seedConfiguredTotp(dir.path);
    const wrong = wrongCodes(12, Date.now());
    const env = { CREDPOOL_TOTP_BURST_ATTEMPTS: "100" };
    const children = [0, 1, 2, 3].map((i) =>
      spawnChild(
        verifier,
        ["--home", dir.path, "--codes", wrong.slice(i * 3, i * 3 + 3).join(","), "--principal", "admin"],
        { env },
      ),
    );
    await startTogether(children);
    const reports = await Promise.all(
      children.map((child) => child.waitFor<{ done: boolean; results: VerifyOutcome[] }>((m) => m.done)),
    );
    const results = reports.flatMap((report) => report.results);
    expect(results.filter((result) => result.outcome === "E_TOTP_INVALID")).toHaveLength(2);
    expect(results.filter((result) => result.outcome === "E_TOTP_LOCKED")).toHaveLength(10);
    expect((await readAuthState(seeded.statePath)).principals.admin?.failures).toBe(3);
  });
});
