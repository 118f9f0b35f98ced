// The two sides of store.handoff: on "hold", commits with a mutator that keeps the lock for `ms`, reporting when it
// began and when update() resolved (just after the release); on "follow", commits at once, reporting when its
// mutator ran, which is when it had taken the lock and read the file (see the read() below).
import { createFileBackend, prepareCommitWorker } from "@credpool/pool-core";
import { failOnError, onMessages, readFlags, send, sharedNow } from "./ipc.mjs";

failOnError();
const flags = readFlags("pool", "watch");
const backend = createFileBackend({ path: flags.pool });
// `--watch yes`: follow the pool as a gateway or openPool() does; its directory watch also wakes a lock waiter.
if (flags.watch === "yes") backend.watch(() => undefined);

function touch(doc) {
  doc.providers.bench.credentials[0].usage.requests += 1;
}

await prepareCommitWorker();
// One commit in the worker before the barrier, so neither side pays for start-up in the figures.
await backend.update(touch);

// A commit whose base this process already holds is built before the lock (file-backend.ts, the one-message path),
// so its mutator would not hold the lock at all. A read() first leaves no such base: the mutator then runs under
// the lock, on both sides.
onMessages("hold", async ({ ms, n }) => {
  await backend.read();
  await backend.update((doc) => {
    send({ type: "holding", n });
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // The lock is held for exactly as long as a slow mutator would hold it.
    }
    touch(doc);
  });
  send({ type: "released", n, at: sharedNow() });
});

onMessages("follow", async ({ n }) => {
  await backend.read();
  let acquiredAt = 0;
  await backend.update((doc) => {
    acquiredAt = sharedNow();
    touch(doc);
  });
  send({ type: "followed", n, acquiredAt });
});

onMessages("exit", async () => {
  await backend.close();
  process.exit(0);
});
send({ type: "ready" });
