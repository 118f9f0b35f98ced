// Starts N update() calls at once in one process and reports each write the backend made and what callers saw.
import { readFileSync } from "node:fs";
import { createFileBackend } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const total = Number(flags.updates ?? 500);
const writes = [];
const backend = createFileBackend({
  path: flags.pool,
  lockTimeoutMs: 60_000,
  hooks: { onWrite: (info) => writes.push({ rev: info.rev, updates: info.updates }) },
});
await waitForGo();

// A caller whose promise resolved before its change reached the file would break "settles only when on disk".
const notOnDiskAtResolve = [];
const missingFromResolvedDoc = [];
const rejected = [];
const updates = Array.from({ length: total }, (_, i) =>
  backend
    .update((doc) => {
      doc.applied = [...(doc.applied ?? []), i];
    })
    .then(
      (committed) => {
        if (!committed.applied.includes(i)) missingFromResolvedDoc.push(i);
        const onDisk = JSON.parse(readFileSync(flags.pool, "utf8"));
        if (!onDisk.applied.includes(i)) notOnDiskAtResolve.push(i);
      },
      (error) => rejected.push({ i, code: error.code, message: error.message }),
    ),
);
await Promise.all(updates);
await backend.close();
emit({ done: true, writes, rejected, missingFromResolvedDoc, notOnDiskAtResolve });
process.exit(0);
