// Watches a pool and prints each rev it sees. It first says whether it can watch a directory at all: the test runs
// it as a user whose inotify instances are used up, so it must fall back to polling.
import { watch } from "node:fs";
import { dirname } from "node:path";
import { createFileBackend } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
let watchError = null;
try {
  watch(dirname(flags.pool)).close();
} catch (error) {
  watchError = error.code;
}
emit({ watchError });
const backend = createFileBackend({ path: flags.pool, pollIntervalMs: 200 });
backend.watch((change) => emit({ rev: change.rev }));
emit({ ready: true });
// Alive until the test kills it.
setInterval(() => undefined, 60_000);
