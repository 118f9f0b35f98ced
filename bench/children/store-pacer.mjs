// The writer for store.propagation and store.burst: commits on command and records, per commit, its rev and
// when update() resolved (shared clock), so the parent can compare with when each watcher saw that rev.
import { createFileBackend } from "@credpool/pool-core";
import { failOnError, nextMessage, onMessages, readFlags, send, sharedNow, sleep } from "./ipc.mjs";

failOnError();
const flags = readFlags("pool");
const backend = createFileBackend({ path: flags.pool });

function touch(doc) {
  const usage = doc.providers.bench.credentials[0].usage;
  usage.requests += 1;
  usage.lastUsedAt = Date.now();
}

async function commit() {
  const startAt = sharedNow();
  const doc = await backend.update(touch);
  return { rev: doc.rev, startAt, committedAt: sharedNow() };
}

function randomBetween(min, max) {
  return min + Math.random() * (max - min);
}

onMessages("commit", (message) => {
  void commit().then((write) => send({ type: "committed", id: message.id, ...write }));
});

onMessages("paced", (message) => {
  void (async () => {
    const writes = [];
    for (let i = 0; i < message.samples; i++) {
      writes.push(await commit());
      await sleep(randomBetween(message.minGapMs, message.maxGapMs));
    }
    send({ type: "paced-done", id: message.id, writes });
  })();
});

// Each burst issues `perBurst` updates 0-maxGapMs apart without waiting for the previous one to land, so
// commits follow each other as fast as the store publishes them; then it stays quiet for `quietMs`.
onMessages("bursts", (message) => {
  void (async () => {
    const bursts = [];
    for (let b = 0; b < message.bursts; b++) {
      const pending = [];
      for (let i = 0; i < message.perBurst; i++) {
        pending.push(commit());
        await sleep(randomBetween(0, message.maxGapMs));
      }
      const writes = await Promise.all(pending);
      const finalRev = Math.max(...writes.map((w) => w.rev));
      const endAt = Math.max(...writes.map((w) => w.committedAt));
      bursts.push({ finalRev, endAt, revs: new Set(writes.map((w) => w.rev)).size });
      await sleep(message.quietMs);
    }
    send({ type: "bursts-done", id: message.id, bursts });
  })();
});

await backend.read();
send({ type: "ready" });
await nextMessage("exit");
await backend.close();
process.disconnect();
