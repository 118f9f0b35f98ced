// Makes one update() under a crash or fault preload, reports how it ended, then stays alive until told "exit":
// a normal exit would remove a leaked lock for us (proper-lockfile cleans up on exit) and hide the bug.
import { createInterface } from "node:readline";
import { createFileBackend, prepareCommitWorker } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
const backend = createFileBackend({ path: flags.pool, staleMs: 2000, lockTimeoutMs: 1000 });
// A process's first commit runs on the main thread while the commit worker starts; `--worker yes` waits for the
// worker so the commit runs there (test/store/commit-worker-steps.test.ts).
if (flags.worker === "yes" && !(await prepareCommitWorker())) throw new Error("the commit worker did not start");
// `--warmup <n>`: n updates that change nothing first. After two, the file is as this process last read it, so
// the real update takes the one-message path (commitIfUnchanged); pair with CREDPOOL_STEPS_AFTER_LOCKS=<n>.
for (let i = 0; i < Number(flags.warmup ?? 0); i++) await backend.update(() => undefined);
try {
  const doc = await backend.update((draft) => {
    draft.marker = flags.marker;
  });
  emit({ ok: true, rev: doc.rev });
} catch (error) {
  emit({ ok: false, code: error.code, details: error.details, message: error.message });
}
// `--linger no`: return without process.exit(), so the test sees whether anything keeps the process alive.
if (flags.linger === "no") {
  await backend.close();
} else {
  await new Promise((resolve) => {
    createInterface({ input: process.stdin }).on("line", (line) => {
      if (line.trim() === "exit") resolve();
    });
  });
  process.exit(0);
}
