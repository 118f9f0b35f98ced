// Issue 3, test 6: a lease holder is SIGKILLed while holding the only slot; the slot frees when its TTL lapses.
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isPoolError, openPool, type PoolError } from "@credpool/pool-core";
import { createTempDir, spawnChild, startTogether, type ChildHandle, type TempDir } from "@credpool/pool-testkit";
import { credentialsOf, killChildrenAndRemove, readPool, seedPool } from "./helpers.js";

const oneLease = fileURLToPath(new URL("../children/pool-one-lease.mjs", import.meta.url));

describe("crashed lease holder", () => {
  let dir: TempDir;
  let child: ChildHandle | undefined;
  afterEach(async () => {
    await killChildrenAndRemove([child], dir);
    child = undefined;
  });

  it("keeps the slot taken until the lease TTL lapses, then frees it with no cleanup by the dead holder", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const [id] = await seedPool(path, { strategy: "fill_first", credentials: 1, maxConcurrent: 1 });
    child = spawnChild(oneLease, ["--pool", path, "--ttl", "1500"]);
    await startTogether([child]);
    const held = await child.waitFor<{ leaseId: string; pid: number }>((m) => m.leaseId !== undefined);
    child.kill("SIGKILL");
    expect((await child.exited).signal).toBe("SIGKILL");

    // The dead holder's record is still there: nobody released it.
    const [orphaned] = credentialsOf(await readPool(path));
    expect(orphaned?.leases).toEqual([expect.objectContaining({ id: held.leaseId })]);
    expect(orphaned?.leases?.[0]?.holder).toContain(`:${held.pid}`);
    const expiresAt = orphaned?.leases?.[0]?.expiresAt ?? NaN;
    expect(expiresAt - (orphaned?.leases?.[0]?.startedAt ?? NaN)).toBe(1500);

    // Read "now" through a clock this test controls, so "just before the TTL lapses" is exact, not a race.
    let pinned: number | undefined = expiresAt - 1;
    const pool = await openPool({ file: { path }, now: () => pinned ?? Date.now() });
    try {
      let refused: PoolError | undefined;
      try {
        await pool.lease("anthropic");
      } catch (error) {
        if (!isPoolError(error)) throw error;
        refused = error;
      }
      expect(refused?.code).toBe("E_NO_CREDENTIAL");
      expect(refused?.retryAfterMs).toBe(1);
      expect(refused?.message).toContain("at capacity (1/1 leases)");

      // Now let real time pass the dead holder's expiry.
      pinned = undefined;
      await sleep(Math.max(0, expiresAt - Date.now()) + 5);
      const lease = await pool.lease("anthropic", { ttlMs: 60_000 });
      expect(lease.credentialId).toBe(id);
      const [after] = credentialsOf(await readPool(path));
      expect(after?.leases?.map((record) => record.id)).toEqual([lease.id]);
      await lease.release();
    } finally {
      await pool.close();
    }
    expect(credentialsOf(await readPool(path))[0]?.leases).toEqual([]);
  });
});
