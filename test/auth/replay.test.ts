// Failure 8 (replayable codes), across processes: the last accepted step lives in auth-state.json, so a code that
// one process accepted is refused by every other process within its step.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createTempDir, spawnChild, startTogether, type TempDir } from "@credpool/pool-testkit";
import { codeAt, readAuthState, seedConfiguredTotp } from "../../packages/pool-core/test/auth/totp-fixture.js";

const verifier = fileURLToPath(new URL("../children/totp-verifier.mjs", import.meta.url));

interface VerifyOutcome {
  code: string;
  outcome: string;
  step?: number;
}

async function runVerifiers(home: string, codeLists: string[][], principals: string[]): Promise<VerifyOutcome[][]> {
  const children = codeLists.map((codes, i) =>
    spawnChild(verifier, ["--home", home, "--codes", codes.join(","), "--principal", principals[i] ?? "admin"]),
  );
  await startTogether(children);
  const reports = await Promise.all(
    children.map((child) => child.waitFor<{ done: boolean; results: VerifyOutcome[] }>((m) => m.done)),
  );
  const exits = await Promise.all(children.map((child) => child.exited));
  expect(exits.map((exit) => exit.code)).toEqual(children.map(() => 0));
  return reports.map((report) => report.results);
}

describe("replay across processes", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it("a code accepted in process A is rejected with E_TOTP_REPLAY in process B within the same step", async () => {
    dir = await createTempDir();
    const seeded = await seedConfiguredTotp(dir.path);
    const code = codeAt(Date.now());
    const [a] = await runVerifiers(dir.path, [[code]], ["admin"]);
    expect(a?.[0]?.outcome).toBe("ok");
    const [b] = await runVerifiers(dir.path, [[code]], ["admin"]);
    expect(b?.[0]?.outcome).toBe("E_TOTP_REPLAY");
    const state = await readAuthState(seeded.statePath);
    expect(state.lastAcceptedStep).toBe(a?.[0]?.step);
  });

  it("4 processes racing with one valid code: exactly one is accepted, three are replays", async () => {
    dir = await createTempDir();
    await seedConfiguredTotp(dir.path);
    const code = codeAt(Date.now());
    const results = await runVerifiers(dir.path, [[code], [code], [code], [code]], ["admin", "admin", "ops", "ops"]);
    const outcomes = results
      .flat()
      .map((result) => result.outcome)
      .sort();
    expect(outcomes).toEqual(["E_TOTP_REPLAY", "E_TOTP_REPLAY", "E_TOTP_REPLAY", "ok"]);
  });
});
