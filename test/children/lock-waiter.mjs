// Commits once, starts its commit worker, and on "go" commits again, printing the new rev. It also says whether it
// can watch a file: the test runs it as a user whose inotify instances are used up, so its wait must poll.
import { watch } from "node:fs";
import { createFileBackend, prepareCommitWorker } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const backend = createFileBackend({ path: flags.pool, lockTimeoutMs: 20_000 });
await backend.update((draft) => {
  draft.marker = "first";
});
if (!(await prepareCommitWorker())) throw new Error("the commit worker did not start");
let watchError = null;
try {
  watch(flags.pool).close();
} catch (error) {
  watchError = error.code;
}
emit({ watchError });
await waitForGo();
const doc = await backend.update((draft) => {
  draft.marker = "second";
});
emit({ rev: doc.rev });
await backend.close();
// stdin, still open, would keep the process alive.
process.exit(0);
