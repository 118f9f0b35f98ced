// Commits update() after update, printing each committed rev before the next, until the parent SIGKILLs it.
import { emit, parseFlags, waitForGo } from "./child-io.mjs";
import { openBackend } from "./open-backend.mjs";

const flags = parseFlags();
const backend = await openBackend(flags, { staleMs: Number(flags.stale ?? 2000), lockTimeoutMs: 30_000 });
// A payload big enough that a kill often lands inside the temp write rather than between commits.
const padding = "x".repeat(Number(flags.padding ?? 0));

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
