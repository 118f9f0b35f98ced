// Issue 3, test 3: round robin means the same thing across processes, because the cursor is shared.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createTempDir, spawnChild, startTogether, type ChildHandle, type TempDir } from "@credpool/pool-testkit";
import { countBy, credentialsOf, killChildrenAndRemove, readPool, seedPool } from "./helpers.js";

const leaser = fileURLToPath(new URL("../children/pool-leaser.mjs", import.meta.url));
const oneLease = fileURLToPath(new URL("../children/pool-one-lease.mjs", import.meta.url));

describe("cross-process round robin", () => {
  let dir: TempDir;
  let children: ChildHandle[] = [];
  afterEach(async () => {
    await killChildrenAndRemove(children, dir);
    children = [];
  });

  it("gives each of 4 credentials 100 ± 5 of 400 selections taken by 4 processes, by their logs and by the counters", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const ids = await seedPool(path, { strategy: "round_robin", credentials: 4 });
    children = Array.from({ length: 4 }, () => spawnChild(leaser, ["--pool", path, "--leases", "100"]));
    await startTogether(children);
    const results = await Promise.all(
      children.map((child) => child.waitFor<{ done: boolean; picks: string[] }>((m) => m.done, 50_000)),
    );
    expect((await Promise.all(children.map((child) => child.exited))).map((exit) => exit.code)).toEqual([0, 0, 0, 0]);

    const logged = countBy(results.flatMap((result) => result.picks));
    expect([...logged.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) {
      expect(logged.get(id)).toBeGreaterThanOrEqual(95);
      expect(logged.get(id)).toBeLessThanOrEqual(105);
    }

    const doc = await readPool(path);
    const persisted = new Map(credentialsOf(doc).map((credential) => [credential.id, credential.usage.requests]));
    // Every process closed gracefully, so the persisted counters hold every selection.
    expect([...persisted.values()].reduce((sum, n) => sum + n, 0)).toBe(400);
    expect(persisted).toEqual(logged);
    expect(doc.providers.anthropic?.cursor).toBe(400);
  });

  it("rotates across processes: 4 processes that each take one lease at the same moment get 4 different credentials", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const ids = await seedPool(path, { strategy: "round_robin", credentials: 4 });
    children = Array.from({ length: 4 }, () => spawnChild(oneLease, ["--pool", path]));
    await startTogether(children);
    // Each child holds its lease and has flushed nothing: only a cursor committed with each lease can rotate.
    const picks = await Promise.all(
      children.map((child) => child.waitFor<{ leased: boolean; credentialId: string }>((m) => m.leased, 30_000)),
    );
    expect(picks.map((pick) => pick.credentialId).sort()).toEqual([...ids].sort());
    for (const child of children) child.send("release");
    await Promise.all(children.map((child) => child.waitFor<{ released: boolean }>((m) => m.released)));
    expect(credentialsOf(await readPool(path)).map((credential) => credential.usage.requests)).toEqual([1, 1, 1, 1]);
  });
});
