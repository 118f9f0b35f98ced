// Load generator for store.contended, store.baseline and store.seq: increments one credential's usage counter
// `updates` times with `inflight` calls outstanding, through update() (group commit), the naive lock-per-update
// protocol, or (naive-sync) what a user's script would do: synchronous node:fs and a mkdir lock polled every 1 ms.
import { mkdirSync, readFileSync, rmdirSync } from "node:fs";
import {
  acquireFileLock,
  createFileBackend,
  parseDocument,
  poolDocumentSchema,
  publishDocument,
  readDocumentText,
  serializeDocument,
} from "@credpool/pool-core";
import { writeDurablySync } from "../lib/durable-write.mjs";
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

const pause = new Int32Array(new SharedArrayBuffer(4));

/** The user's script: everything synchronous on one thread, the lock tried again every millisecond. */
function naiveSyncUpdate() {
  const lockPath = `${path}.lock`;
  for (;;) {
    try {
      mkdirSync(lockPath);
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
  try {
    const doc = JSON.parse(readFileSync(path, "utf8"));
    increment(doc);
    doc.rev += 1;
    doc.updatedAt = new Date().toISOString();
    writeDurablySync(path, `${path}.${process.pid}.tmp`, serializeDocument(doc));
    writes++;
  } finally {
    rmdirSync(lockPath);
  }
  return Promise.resolve();
}

const updates = { naive: naiveUpdate, "naive-sync": naiveSyncUpdate, group: () => backend.update(increment) };
const updateOnce = updates[mode];
if (updateOnce === undefined) throw new Error(`unknown --mode ${mode}`);

// Load the modules and warm the fs caches before the barrier, so start-up cost stays out of the figure.
await backend.read();
send({ type: "ready" });
await nextMessage("go");

const cpuBefore = process.cpuUsage();
const { acked, errors } = await runLanes(total, inflight, updateOnce);
const doneAt = sharedNow();
// Every thread of this process (the commit worker's included), in microseconds.
const cpu = process.cpuUsage(cpuBefore);
await backend.close();
send({ type: "done", doneAt, acked, writes, errors, cpuUs: cpu.user + cpu.system });
process.disconnect();
