// Enters an update() transaction and stays inside it (lock held) until the parent confirms it SIGSTOPped us.
import { existsSync } from "node:fs";
import { createFileBackend } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
const backend = createFileBackend({ path: flags.pool, staleMs: Number(flags.stale ?? 2000), lockTimeoutMs: 30_000 });
const nap = new Int32Array(new SharedArrayBuffer(4));

try {
  const committed = await backend.update((draft) => {
    // stdout is a pipe, and pipe writes are synchronous on Linux, so the parent hears this while we hold the lock.
    emit({ inTransaction: true, readRev: draft.rev });
    // Mutators are synchronous; spinning here keeps us inside the transaction until the stop has landed.
    while (!existsSync(flags.ack)) Atomics.wait(nap, 0, 0, 2);
    draft.writer = "holder";
    draft.holderWrites = (draft.holderWrites ?? 0) + 1;
  });
  emit({ committed: true, rev: committed.rev });
} catch (error) {
  emit({ aborted: true, code: error.code, message: error.message });
}

// The process survives a compromised lock and its next transaction runs on fresh state.
const recovered = await backend.update((draft) => {
  draft.holderRecovered = true;
});
emit({ recovered: true, rev: recovered.rev, writer: recovered.writer });
await backend.close();
process.exit(0);
