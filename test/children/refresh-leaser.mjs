// Opens the pool with the refresher and source links (token endpoints come from CREDPOOL_*_TOKEN_URL), prints
// {"ready":true}, and on "go" leases --provider once and prints the outcome. With --serve 1 it stays up and leases
// again on each "lease" line until "exit"; with --watch 1 it also runs the source watcher and reports each commit.
import { createInterface } from "node:readline";
import { createRefresher, createSourceLinks, openPool, watchSources } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";
import { openBackend } from "./open-backend.mjs";

const flags = parseFlags();
const backend = await openBackend(flags, { staleMs: Number(flags.stale ?? 5000), lockTimeoutMs: 60_000 });
const refresher = createRefresher({ links: createSourceLinks() });
const pool = await openPool({ backend, refresher: refresher.ensureFresh });
let watcher;
if (flags.watch === "1") {
  watcher = watchSources(backend, {
    pollIntervalMs: 250,
    onSync: (result) => {
      if (result.committed) emit({ synced: true, rev: result.rev });
    },
    onError: (error) => emit({ watchError: error.message }),
  });
  await watcher.ready;
}

async function leaseOnce() {
  try {
    const lease = await pool.lease(flags.provider ?? "anthropic");
    emit({ leased: true, token: lease.token, credentialId: lease.credentialId, at: Date.now() });
    await lease.release();
  } catch (error) {
    emit({ leased: false, code: error.code, message: error.message, at: Date.now() });
  }
}

async function shutdown() {
  await watcher?.close();
  await pool.close();
  await backend.close();
  process.exit(0);
}

let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  queue = queue.then(async () => {
    if (command === "go" || command === "lease") await leaseOnce();
    if ((command === "go" && flags.serve !== "1") || command === "exit") await shutdown();
  });
});
emit({ ready: true });
