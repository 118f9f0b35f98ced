// Takes one lease as soon as the parent says go, reports it, and holds it until the parent says "release"
// (or is killed while holding it). Nothing is flushed or closed before the report.
import { createInterface } from "node:readline";
import { openPool } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const pool = await openPool({ file: { path: flags.pool, lockTimeoutMs: 60_000 } });
await waitForGo();
const lease = await pool.lease(
  flags.provider ?? "anthropic",
  flags.ttl === undefined ? {} : { ttlMs: Number(flags.ttl) },
);
emit({
  leased: true,
  credentialId: lease.credentialId,
  leaseId: lease.id,
  leaseExpiresAt: lease.leaseExpiresAt,
  pid: process.pid,
});
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() !== "release") return;
  lines.close();
  void lease
    .release("ok")
    .then(() => pool.close())
    .then(() => {
      emit({ released: true });
      process.exit(0);
    });
});
