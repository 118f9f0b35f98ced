// Commits update() after update, printing each committed rev before the next, until the parent SIGKILLs it.
import { createFileBackend } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const backend = createFileBackend({ path: flags.pool, staleMs: Number(flags.stale ?? 2000), lockTimeoutMs: 30_000 });
// A payload big enough that a kill often lands inside the temp write rather than between commits.
const padding = "x".repeat(Number(flags.padding ?? 0));

// proper-lockfile's first lock in a process probes mtime precision by setting the lock's mtime to the next whole
// second + 5 ms, so a kill during that one lock may go stale up to ~1 s late. Take that first lock on a side
// lock before the kill window, so the test measures the steady state the stale + 1 s bound is about.
const warmUp = await backend.lock("warm-up");
await warmUp.release();

await waitForGo();
emit({ started: true });
for (;;) {
  const doc = await backend.update((draft) => {
    draft.counter = (typeof draft.counter === "number" ? draft.counter : 0) + 1;
    draft.padding = padding;
  });
  // Written synchronously to the pipe (Linux), so an acknowledged rev reaches the parent even if we die next.
  emit({ rev: doc.rev });
}
