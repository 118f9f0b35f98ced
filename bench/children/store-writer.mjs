// Load generator for store.contended and store.baseline: increments one credential's usage counter `updates`
// times with `inflight` calls outstanding, through update() (group commit) or the naive lock-per-update protocol.
import {
  acquireFileLock,
  createFileBackend,
  parseDocument,
  poolDocumentSchema,
  publishDocument,
  readDocumentText,
  serializeDocument,
} from "@credpool/pool-core";
import { failOnError, nextMessage, readFlags, runLanes, send, sharedNow } from "./ipc.mjs";

failOnError();
const flags = readFlags("pool", "mode", "updates", "inflight");
const path = flags.pool;
const mode = flags.mode ?? "group";
const total = Number(flags.updates ?? 500);
const inflight = Number(flags.inflight ?? 32);
// Generous: a timeout would count as a missing update, and this bench measures throughput, not tail waits.
const lockTimeoutMs = 120_000;

function increment(doc) {
  const counter = doc.providers.bench.credentials[0].usage;
  counter.requests += 1;
}

let writes = 0;
const backend = createFileBackend({ path, lockTimeoutMs, hooks: { onWrite: () => writes++ } });

/** What a store without group commit does: one lock, read, write and release per update. */
async function naiveUpdate() {
  const lock = await acquireFileLock(path, `${path}.lock`, { staleMs: 5000, timeoutMs: lockTimeoutMs });
  try {
    const doc = parseDocument(path, await readDocumentText(path), poolDocumentSchema);
    increment(doc);
    doc.rev += 1;
    doc.updatedAt = new Date().toISOString();
    await publishDocument(path, serializeDocument(doc), 0o600);
    writes++;
  } finally {
    await lock.release();
  }
}

const updateOnce = mode === "naive" ? naiveUpdate : () => backend.update(increment);
if (mode !== "naive" && mode !== "group") throw new Error(`unknown --mode ${mode}`);

// Load the modules and warm the fs caches before the barrier, so start-up cost stays out of the figure.
await backend.read();
send({ type: "ready" });
await nextMessage("go");

const { acked, errors } = await runLanes(total, inflight, updateOnce);
const doneAt = sharedNow();
await backend.close();
send({ type: "done", doneAt, acked, writes, errors });
process.disconnect();
