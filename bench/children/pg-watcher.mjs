// A watcher process for store.pg.propagation: holds a snapshot of the PostgreSQL pool, as a gateway does, and
// records when (shared clock) it first held each rev.
import { openSnapshot } from "@credpool/pool-core";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { failOnError, nextMessage, onMessages, readFlags, send, sharedNow } from "./ipc.mjs";

failOnError();
const flags = readFlags("url", "schema");
const backend = createPostgresBackend({ url: flags.url, schema: flags.schema });
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
  send({ type: "timeline", id: message.id, timeline });
  if (message.clear) timeline = [];
});
send({ type: "ready", rev: snapshot.rev });
await nextMessage("exit");
snapshot.close();
await backend.close();
process.disconnect();
