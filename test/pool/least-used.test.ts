// Issue 3, test 4: least_used balances usage across processes, because the counters are persisted and shared.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createTempDir, spawnChild, startTogether, type ChildHandle, type TempDir } from "@credpool/pool-testkit";
import { countBy, credentialsOf, killChildrenAndRemove, readPool, seedPool } from "./helpers.js";

const leaser = fileURLToPath(new URL("../children/pool-leaser.mjs", import.meta.url));

function expectBalanced(counts: number[], total: number): void {
  const mean = total / counts.length;
  expect(counts.reduce((sum, n) => sum + n, 0)).toBe(total);
  for (const count of counts) {
    expect(count).toBeGreaterThanOrEqual(mean * 0.9);
    expect(count).toBeLessThanOrEqual(mean * 1.1);
  }
}

describe("cross-process least_used", () => {
  let dir: TempDir;
  let children: ChildHandle[] = [];
  afterEach(async () => {
    await killChildrenAndRemove(children, dir);
    children = [];
  });

  it("keeps usage within 10% across 4 credentials when 4 processes take 100 leases each at once", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const ids = await seedPool(path, { strategy: "least_used", credentials: 4 });
    // Flush every 50 ms so the processes see each other's counts while they run.
    children = Array.from({ length: 4 }, () =>
      spawnChild(leaser, ["--pool", path, "--leases", "100", "--flush", "50"]),
    );
    await startTogether(children);
    const results = await Promise.all(
      children.map((child) => child.waitFor<{ done: boolean; picks: string[] }>((m) => m.done, 50_000)),
    );
    expect((await Promise.all(children.map((child) => child.exited))).map((exit) => exit.code)).toEqual([0, 0, 0, 0]);

    const logged = countBy(results.flatMap((result) => result.picks));
    expectBalanced(
      ids.map((id) => logged.get(id) ?? 0),
      400,
    );
    const persisted = credentialsOf(await readPool(path));
    expectBalanced(
      persisted.map((credential) => credential.usage.requests),
      400,
    );
    expect(new Map(persisted.map((credential) => [credential.id, credential.usage.requests]))).toEqual(logged);
  });

  it("balances short-lived processes that run one after another, each seeing the counts the last one persisted", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    await seedPool(path, { strategy: "least_used", credentials: 4 });
    // 3 leases per process over 4 credentials: a process that saw only its own counts would never reach key-4.
    const picks: string[] = [];
    for (let i = 0; i < 8; i++) {
      const child = spawnChild(leaser, ["--pool", path, "--leases", "3"]);
      children = [child];
      await startTogether(children);
      picks.push(...(await child.waitFor<{ done: boolean; picks: string[] }>((m) => m.done)).picks);
      expect((await child.exited).code).toBe(0);
    }
    const persisted = credentialsOf(await readPool(path));
    expect(persisted.map((credential) => credential.usage.requests)).toEqual([6, 6, 6, 6]);
    expect([...countBy(picks).values()]).toEqual([6, 6, 6, 6]);
  });
});
