// Commits one update that stamps `writer` with this child's name, then reports the committed rev.
import { createFileBackend } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
const backend = createFileBackend({ path: flags.pool, staleMs: Number(flags.stale ?? 2000), lockTimeoutMs: 30_000 });
try {
  const committed = await backend.update((draft) => {
    draft.writer = flags.name;
    draft[`${flags.name}Writes`] = (draft[`${flags.name}Writes`] ?? 0) + 1;
  });
  emit({ committed: true, rev: committed.rev });
} catch (error) {
  emit({ failed: true, code: error.code, message: error.message });
}
await backend.close();
process.exit(0);
