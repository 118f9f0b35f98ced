// A writer killed with SIGKILL at a random moment mid-stream, 100 times: the file stays valid, no acknowledged
// commit is lost, the dead writer's lock is taken over within stale + 1 s, and its temp files are cleaned up.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, spawnChild, type TempDir } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/loop-writer.mjs", import.meta.url));

const ROUNDS = 100;
// Most kills land while the writer holds the lock, so most rounds wait out `stale`; independent pools run side by
// side so the 100 rounds take tens of seconds rather than 100 x stale.
const LANES = 10;
const STALE_MS = 2000;
const KILL_WINDOW_MS = 50;
const PADDING_BYTES = 16 * 1024;

const isTempFile = (name: string): boolean => /^pool\.json\.(\d+|bak\.[0-9a-f]+\.tmp)$/.test(name);

interface LaneStats {
  killedHoldingLock: number;
  killedWithTempFile: number;
  maxTakeoverMs: number;
}

describe("SIGKILL loop", () => {
  const dirs: TempDir[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => dir.remove()));
  });

  async function runLane(lane: number, rounds: number): Promise<LaneStats> {
    const dir = await createTempDir();
    dirs.push(dir);
    const pool = dir.file("pool.json");
    // lockTimeoutMs far above the bound, so a slow takeover fails the bound below with its figure, not a timeout.
    const backend = createFileBackend({ path: pool, staleMs: STALE_MS, lockTimeoutMs: 20_000 });
    const stats: LaneStats = { killedHoldingLock: 0, killedWithTempFile: 0, maxTakeoverMs: 0 };
    let lastDiskRev = 0;

    for (let round = 0; round < rounds; round++) {
      const where = `lane ${lane}, round ${round}`;
      const child = spawnChild(writer, ["--pool", pool, "--padding", String(PADDING_BYTES)]);
      // "close" fires once stdout is drained, so every rev the writer acknowledged has been parsed by then.
      const closed = new Promise<void>((resolve) => child.process.once("close", () => resolve()));
      await child.waitFor<{ ready?: boolean }>((m) => m.ready === true);
      child.send("go");
      await child.waitFor<{ started?: boolean }>((m) => m.started === true);
      await sleep(Math.random() * KILL_WINDOW_MS);
      const killedAt = performance.now();
      child.kill("SIGKILL");
      await closed;
      expect(await child.exited, `${where}: the writer died on its own: ${child.stderr()}`).toEqual({
        code: null,
        signal: "SIGKILL",
      });
      if (existsSync(`${pool}.lock`)) stats.killedHoldingLock++;
      if ((await readdir(dir.path)).some(isTempFile)) stats.killedWithTempFile++;

      const acked = child.messages
        .map((m) => (m as { rev?: unknown }).rev)
        .filter((rev): rev is number => typeof rev === "number");
      // The writer has one update in flight, so disk is at the last acknowledged commit or one past it.
      const floor = Math.max(lastDiskRev, ...acked);
      const { doc } = await backend.read();
      expect(doc.rev, `${where}: acknowledged rev ${floor} was lost`).toBeGreaterThanOrEqual(floor);
      expect(doc.rev, `${where}: rev jumped past the one unacknowledged commit`).toBeLessThanOrEqual(floor + 1);
      // One increment per commit: no commit applied twice or published without its change.
      expect(doc.counter ?? 0, where).toBe(doc.rev);

      // Taking the lock also removes temp files the dead writer left, as the first commit of a new process does.
      await backend.cleanupTempFiles();
      const takeoverMs = performance.now() - killedAt;
      stats.maxTakeoverMs = Math.max(stats.maxTakeoverMs, takeoverMs);
      expect(takeoverMs, `${where}: lock taken over after ${Math.round(takeoverMs)} ms`).toBeLessThanOrEqual(
        STALE_MS + 1000,
      );
      expect((await readdir(dir.path)).filter(isTempFile), where).toEqual([]);
      // Reading again after the takeover: the cleanup touched nothing but temp files.
      expect((await backend.read()).rev, where).toBe(doc.rev);
      lastDiskRev = doc.rev;
    }
    await backend.close();
    return stats;
  }

  it("keeps a valid file and every acknowledged commit, hands the lock over within stale + 1 s, and clears temp files across 100 kills", async () => {
    const perLane = ROUNDS / LANES;
    // Settle every lane before reporting, so no writer is still running when the directories are removed.
    const settled = await Promise.allSettled(Array.from({ length: LANES }, (_, lane) => runLane(lane, perLane)));
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const lanes = settled.map((result) => (result as PromiseFulfilledResult<LaneStats>).value);
    const killedHoldingLock = lanes.reduce((sum, lane) => sum + lane.killedHoldingLock, 0);
    const killedWithTempFile = lanes.reduce((sum, lane) => sum + lane.killedWithTempFile, 0);
    const maxTakeoverMs = Math.max(...lanes.map((lane) => lane.maxTakeoverMs));
    console.log(
      `sigkill loop: ${ROUNDS} kills, ${killedHoldingLock} holding the lock, ${killedWithTempFile} leaving temp files, ` +
        `slowest takeover ${Math.round(maxTakeoverMs)} ms`,
    );
    // Otherwise the rounds never exercised the stale-lock path this test exists for.
    expect(killedHoldingLock).toBeGreaterThan(0);
  }, 120_000);
});
