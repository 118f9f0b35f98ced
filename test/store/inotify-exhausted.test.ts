// A pool watcher in a process whose user has no inotify instance left (a hundred agents' watchers can use up the
// default 128) falls back to polling and still sees every commit. A real starvation, not an injected error: a hog
// run as user nobody takes every instance that user may have, and the watcher runs as nobody too.
import { spawn } from "node:child_process";
import { chown } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";
import { createTempDir, spawnChild } from "@credpool/pool-testkit";

const writer = fileURLToPath(new URL("../children/step-writer.mjs", import.meta.url));
const poolWatcher = fileURLToPath(new URL("../children/pool-watcher.mjs", import.meta.url));
const NOBODY = 65534;
// Root, to run the watcher as another user without starving this test run's own watchers.
const asRoot = process.getuid?.() === 0;

describe("watching with no inotify left", () => {
  // Inotify instances are limited per user (128 by default), and a hundred agents with their own watchers can use
  // them up. A watcher must then poll, not fail. Needs root, to run the watcher as another user whose instances a hog
  // can take without starving this test run.
  it.skipIf(!asRoot)(
    "sees another process's commit when the user's inotify instances are used up",
    async ({ expect }) => {
      const dir = await createTempDir();
      const hog = spawn("python3", ["-c", INOTIFY_HOG], {
        uid: NOBODY,
        gid: NOBODY,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let watcher: ReturnType<typeof spawnChild> | null = null;
      try {
        await chown(dir.path, NOBODY, NOBODY);
        const pool = dir.file("pool.json");
        const taken = await new Promise<string>((resolve, reject) => {
          hog.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
          hog.once("exit", (code) => reject(new Error(`the inotify hog exited (${code})`)));
        });
        expect(Number(taken)).toBeGreaterThan(0);
        watcher = spawnChild(poolWatcher, ["--pool", pool], { uid: NOBODY, gid: NOBODY });
        expect(await watcher.waitFor<{ watchError?: string }>((m) => "watchError" in m)).toEqual({
          watchError: "EMFILE",
        });
        await watcher.waitFor((m) => m.ready === true);
        const committer = spawnChild(writer, ["--pool", pool, "--marker", "new", "--linger", "no"], {
          uid: NOBODY,
          gid: NOBODY,
        });
        expect(await committer.waitFor<{ ok: boolean; rev: number }>((m) => typeof m.ok === "boolean")).toEqual({
          ok: true,
          rev: 1,
        });
        expect(await watcher.waitFor<{ rev: number }>((m) => m.rev === 1, 20_000)).toEqual({ rev: 1 });
      } finally {
        watcher?.kill("SIGKILL");
        hog.kill("SIGKILL");
        await dir.remove();
      }
    },
  );
});

/** Takes every inotify instance the user may have, prints how many, and keeps them until killed. */
const INOTIFY_HOG = `
import ctypes, time
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fds = []
while libc.inotify_init() >= 0:
    fds.append(1)
print(len(fds), flush=True)
time.sleep(600)
`;
