// Failure 5 (stale workers): commits from one process reach watchers in others, bursts included, never backwards.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, spawnChild, startTogether, type ChildHandle, type TempDir } from "@credpool/pool-testkit";

const writerScript = fileURLToPath(new URL("../children/burst-writer.mjs", import.meta.url));
const watcherScript = fileURLToPath(new URL("../children/rev-watcher.mjs", import.meta.url));

interface ChangeMessage {
  change: true;
  rev: number;
  previousRev: number;
  stampedRev: number | null;
}

/** Only turns a hang into a readable failure; nothing here asserts how fast a watcher converged. */
const HANG_GUARD_MS = 20_000;

const isChange = (message: unknown): message is ChangeMessage => (message as ChangeMessage).change === true;

describe("propagation to watcher processes", () => {
  let dir: TempDir;
  let children: ChildHandle[] = [];
  afterEach(async () => {
    for (const child of children) if (child.process.exitCode === null) child.kill("SIGKILL");
    children = [];
    await dir?.remove();
  });

  it("brings 3 watcher processes to the writer's final rev through write bursts, never reporting a rev going back", async ({
    annotate,
  }) => {
    dir = await createTempDir();
    const pool = dir.file("pool.json");
    const watchers = [
      spawnChild(watcherScript, ["--pool", pool, "--mode", "snapshot"]),
      spawnChild(watcherScript, ["--pool", pool, "--mode", "snapshot"]),
      spawnChild(watcherScript, ["--pool", pool, "--mode", "watch"]),
    ];
    children.push(...watchers);
    await Promise.all(watchers.map((watcher) => watcher.waitFor((m: { watching?: boolean }) => m.watching === true)));

    // A probe commit that every watcher must report proves each one is listening before the bursts start.
    const probe = createFileBackend({ path: pool });
    await probe.update((draft) => {
      draft.stampedRev = draft.rev + 1;
    });
    await probe.close();
    await Promise.all(watchers.map((watcher) => watcher.waitFor<ChangeMessage>((m) => isChange(m) && m.rev >= 1)));

    const writer = spawnChild(writerScript, ["--pool", pool, "--bursts", "3", "--perBurst", "50"]);
    children.push(writer);
    await startTogether([writer]);
    const written = await writer.waitFor<{ done: boolean; finalRev: number; writes: number; gapsUnder5ms: number }>(
      (m) => m.done,
    );
    expect((await writer.exited).code).toBe(0);
    expect(written.finalRev).toBe(1 + written.writes);
    // How bursty the run was depends on the disk and the load; it is reported, never asserted.
    await annotate(
      `writer made ${written.writes} commits; ${written.gapsUnder5ms} followed the previous one within 5 ms`,
    );

    // A watcher that misses the tail of the last burst never gets here: the poll that would rescue it is disabled.
    await Promise.all(
      watchers.map((watcher) =>
        watcher.waitFor<ChangeMessage>((m) => isChange(m) && m.rev === written.finalRev, HANG_GUARD_MS),
      ),
    );
    for (const watcher of watchers) watcher.send("stop");
    const stopped = await Promise.all(
      watchers.map((watcher) => watcher.waitFor<{ stopped: boolean; snapshotRev: number | null }>((m) => m.stopped)),
    );
    const exits = await Promise.all(watchers.map((watcher) => watcher.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0, 0]);
    expect(stopped.map((s) => s.snapshotRev)).toEqual([written.finalRev, written.finalRev, null]);

    for (const watcher of watchers) {
      const changes = watcher.messages.filter(isChange);
      expect(changes.at(-1)?.rev).toBe(written.finalRev);
      changes.forEach((change, i) => {
        expect(change.rev).toBeGreaterThan(change.previousRev);
        // The document delivered with a rev is that rev's document, not a neighbour's.
        if (change.rev > 0) expect(change.stampedRev).toBe(change.rev);
        if (i > 0) {
          expect(change.rev).toBeGreaterThan(changes[i - 1]!.rev);
          expect(change.previousRev).toBe(changes[i - 1]!.rev);
        }
      });
    }
  });
});
