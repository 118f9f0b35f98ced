// Verifies TOTP codes against a shared credpool home after the start barrier, all at once, and reports each
// outcome. Settings come from the environment (CREDPOOL_TOTP_*), as they would for any credpool process.
import { createTotpGate, isPoolError, loadCredpoolConfig } from "@credpool/pool-core";
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const codes = (flags.codes ?? "").split(",").filter((code) => code !== "");
const { config } = await loadCredpoolConfig({ home: flags.home });
const gate = createTotpGate({ home: flags.home, config: config.totp, lockTimeoutMs: 60_000 });
await waitForGo();
const results = await Promise.all(
  codes.map(async (code) => {
    try {
      const verified = await gate.verify(flags.principal ?? "admin", code);
      return { code, outcome: "ok", step: verified.step };
    } catch (error) {
      if (!isPoolError(error)) return { code, outcome: "crash", message: String(error) };
      return { code, outcome: error.code, retryAfterMs: error.retryAfterMs ?? null, details: error.details ?? null };
    }
  }),
);
await gate.close();
emit({ done: true, results });
process.exit(0);
