// Runs one sync of the default sources (Claude Code, Codex, environment, plus linked files) on "go", counting the
// pool commits it made, and prints {"done":true, writes, committed, rev}.
import { createFileBackend, defaultSourceSpecs, linkedSourceSpecs, syncSources } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
let writes = 0;
const backend = createFileBackend({ path: flags.pool, lockTimeoutMs: 60_000, hooks: { onWrite: () => writes++ } });
await waitForGo();
const { doc } = await backend.read();
const result = await syncSources(backend, [...defaultSourceSpecs(), ...linkedSourceSpecs(doc)]);
await backend.close();
emit({
  done: true,
  writes,
  committed: result.committed,
  rev: result.rev,
  actions: result.changes.map((change) => `${change.source}:${change.action}`),
  errors: result.errors.map((error) => error.message),
});
process.exit(0);
