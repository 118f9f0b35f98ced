// A watcher process for store.propagation and store.burst: holds a snapshot, as a gateway worker does, and
// records when (shared clock) it first held each rev. The timeline stays in memory until the parent asks.
import { createFileBackend, openSnapshot } from "@credpool/pool-core";
import { failOnError, nextMessage, onMessages, readFlags, send, sharedNow } from "./ipc.mjs";

failOnError();
const flags = readFlags("pool");
const backend = createFileBackend({ path: flags.pool });
const snapshot = await openSnapshot(backend);
let timeline = [];
snapshot.onChange((change) => {
  timeline.push([change.rev, sharedNow()]);
});

onMessages("await-rev", (message) => {
  snapshot.waitForRev(message.rev, message.timeoutMs).then(
    () => send({ type: "reached", id: message.id, rev: snapshot.rev }),
    () => send({ type: "reached", id: message.id, rev: snapshot.rev, timedOut: true }),
  );
});
onMessages("dump", (message) => {
  send({ type: "timeline", id: message.id, timeline, rev: snapshot.rev });
  if (message.clear) timeline = [];
});

send({ type: "ready", rev: snapshot.rev });
await nextMessage("exit");
snapshot.close();
await backend.close();
process.disconnect();
