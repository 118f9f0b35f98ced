// Increments `counter` N times with C updates in flight, recording the value each transaction read.
import { emit, parseFlags, waitForGo } from "./child-io.mjs";
import { openBackend } from "./open-backend.mjs";

const flags = parseFlags();
const total = Number(flags.updates ?? 250);
const inFlight = Number(flags.concurrency ?? 8);
let writes = 0;
// With --pg-url the commit count is the final rev (every commit raises it by one), so no write hook is needed.
const backend = await openBackend(flags, {
  staleMs: Number(flags.stale ?? 5000),
  lockTimeoutMs: 60_000,
  hooks: { onWrite: () => writes++ },
});
await waitForGo();
const seen = [];
let started = 0;
async function worker() {
  while (started < total) {
    started++;
    let read = -1;
    await backend.update((doc) => {
      read = doc.counter ?? 0;
      doc.counter = read + 1;
    });
    // Logged only once the commit is durable; a rejected update fails the child, and so the test.
    seen.push(read);
  }
}
await Promise.all(Array.from({ length: inFlight }, worker));
await backend.close();
emit({ done: true, writes, values: seen });
process.exit(0);
