// Issue 3, test 5: maxConcurrent holds across processes. 6 processes lease one credential capped at 2 for 10 s;
// every holder logs when it held the lease, and no instant is covered by more than 2 of those intervals.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isPoolError, openPool } from "@credpool/pool-core";
import { createTempDir, spawnChild, startTogether, type ChildHandle, type TempDir } from "@credpool/pool-testkit";
import { credentialsOf, killChildrenAndRemove, readPool, seedPool } from "./helpers.js";

const leaser = fileURLToPath(new URL("../children/pool-leaser.mjs", import.meta.url));
const oneLease = fileURLToPath(new URL("../children/pool-one-lease.mjs", import.meta.url));

type Interval = [start: number, end: number];

/** The most intervals covering one instant. An interval that ends at the instant another starts does not overlap it. */
function maxOverlap(intervals: readonly Interval[]): number {
  const events = intervals.flatMap(([start, end]): Array<[number, number]> => [
    [start, +1],
    [end, -1],
  ]);
  // Ends sort before starts at the same instant.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, delta] of events) {
    open += delta;
    max = Math.max(max, open);
  }
  return max;
}

describe("lease cap across processes", () => {
  let dir: TempDir;
  let children: ChildHandle[] = [];
  afterEach(async () => {
    await killChildrenAndRemove(children, dir);
    children = [];
  });

  it("never lets more than maxConcurrent = 2 holders overlap, with 6 processes leasing and releasing for 10 s", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    const [id] = await seedPool(path, { strategy: "fill_first", credentials: 1, maxConcurrent: 2 });
    children = Array.from({ length: 6 }, () =>
      spawnChild(leaser, ["--pool", path, "--seconds", "10", "--hold", "100", "--ttl", "60000"]),
    );
    await startTogether(children);
    const results = await Promise.all(
      children.map((child) =>
        child.waitFor<{ done: boolean; picks: string[]; intervals: Interval[]; refused: number }>(
          (m) => m.done,
          50_000,
        ),
      ),
    );
    expect((await Promise.all(children.map((child) => child.exited))).map((exit) => exit.code)).toEqual(
      Array(6).fill(0),
    );

    const intervals = results.flatMap((result) => result.intervals);
    for (const [start, end] of intervals) expect(end).toBeGreaterThanOrEqual(start);
    expect(maxOverlap(intervals)).toBeLessThanOrEqual(2);
    // Demand exceeded the cap: holders were turned away, so a third concurrent holder had every chance to appear.
    expect(results.reduce((sum, result) => sum + result.refused, 0)).toBeGreaterThan(0);

    const [credential] = credentialsOf(await readPool(path));
    expect(credential?.id).toBe(id);
    expect(credential?.leases ?? []).toEqual([]);
    expect(credential?.usage.requests).toBe(intervals.length);
  });

  it("counts a slot held by another process: with one of 2 held elsewhere, exactly one more lease is granted", async () => {
    dir = await createTempDir();
    const path = dir.file("pool.json");
    await seedPool(path, { strategy: "fill_first", credentials: 1, maxConcurrent: 2 });
    const holder = spawnChild(oneLease, ["--pool", path]);
    children = [holder];
    await startTogether(children);
    await holder.waitFor<{ leased: boolean }>((m) => m.leased);

    const pool = await openPool({ file: { path } });
    try {
      const second = await pool.lease("anthropic");
      const third = await pool.lease("anthropic").catch((error: unknown) => error);
      expect(isPoolError(third, "E_NO_CREDENTIAL")).toBe(true);
      await second.release();
      holder.send("release");
      await holder.waitFor<{ released: boolean }>((m) => m.released);
      // Both slots free again: two leases at once succeed.
      const both = await Promise.all([pool.lease("anthropic"), pool.lease("anthropic")]);
      await Promise.all(both.map((lease) => lease.release()));
    } finally {
      await pool.close();
    }
  });

  it("computes overlap as the test above relies on", () => {
    expect(
      maxOverlap([
        [0, 10],
        [10, 20],
        [20, 30],
      ]),
    ).toBe(1);
    expect(
      maxOverlap([
        [0, 10],
        [5, 15],
        [9, 12],
      ]),
    ).toBe(3);
    expect(
      maxOverlap([
        [0, 10],
        [5, 15],
        [10, 12],
      ]),
    ).toBe(2);
  });
});
