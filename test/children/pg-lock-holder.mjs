// Takes the refresh lock on the PostgreSQL backend, reads the credential's tokenGeneration, and waits for "commit"
// on stdin (the parent SIGSTOPs us in between). Then it tries the refresh protocol's compare-and-swap commit,
// which must refuse a write based on a generation someone else has moved on from.
import { createInterface } from "node:readline";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
const backend = createPostgresBackend({
  url: flags["pg-url"],
  schema: flags["pg-schema"],
  lockTtlMs: Number(flags["lock-ttl"]),
});
const lock = await backend.lock("refresh:cred1", { timeoutMs: 10_000 });
const seen = (await backend.read()).doc.tokenGeneration ?? 0;
emit({ locked: true, generation: seen });

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "commit") return;
  void (async () => {
    let applied = false;
    await backend.update((draft) => {
      // The CAS: only the generation this holder read may be replaced.
      if ((draft.tokenGeneration ?? 0) !== seen) return;
      draft.tokenGeneration = seen + 1;
      draft.token = "from-paused-holder";
      applied = true;
    });
    const reason = lock.signal.aborted ? lock.signal.reason : undefined;
    emit({ applied, lockLost: lock.signal.aborted, code: reason?.code, message: reason?.message });
    await lock.release();
    await backend.close();
    process.exit(0);
  })();
});
