// Follows the pool through openSnapshot() or backend.watch() and prints every change it is told about.
import { createInterface } from "node:readline";
import { createFileBackend, openSnapshot } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
// The stat poll is pushed out of reach so convergence has to come from directory events and the trailing re-check.
const backend = createFileBackend({ path: flags.pool, pollIntervalMs: 600_000 });
const report = (change) =>
  emit({ change: true, rev: change.rev, previousRev: change.previousRev, stampedRev: change.doc.stampedRev ?? null });

let stop;
let snapshot;
if (flags.mode === "snapshot") {
  snapshot = await openSnapshot(backend);
  snapshot.onChange(report);
  stop = () => snapshot.close();
  emit({ watching: true, rev: snapshot.rev });
} else {
  stop = backend.watch(report);
  emit({ watching: true, rev: (await backend.read()).rev });
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "stop") return;
  const finalRev = snapshot?.rev ?? null;
  stop();
  void backend.close().then(() => {
    emit({ stopped: true, snapshotRev: finalRev });
    process.exit(0);
  });
});
