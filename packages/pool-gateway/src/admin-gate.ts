// Adapts core's TOTP gate to the admin API: a verified code opens a session the client carries as a bearer value.
import { randomBytes } from "node:crypto";
import type { TotpGate } from "@credpool/pool-core";
import type { AdminGate } from "./routes/services.js";

export function createAdminGate(gate: TotpGate): AdminGate {
  // Session token -> principal. The gate owns idle timeouts; this map only names whose session a token is.
  const tokens = new Map<string, string>();
  return {
    async isConfigured() {
      const inspection = await gate.inspect();
      // Fail closed: a broken secret or state file refuses every admin action instead of skipping the check.
      if (inspection.state === "broken") throw inspection.problem ?? new Error("TOTP state is broken");
      return inspection.state === "configured";
    },
    async openSession(principal, code) {
      const { session } = await gate.verify(principal, code, { action: "admin session" });
      for (const [token, owner] of tokens) if (owner === principal) tokens.delete(token);
      const sessionToken = randomBytes(24).toString("base64url");
      tokens.set(sessionToken, principal);
      return { sessionToken, expiresAt: session.expiresAt };
    },
    checkSession(sessionToken) {
      const principal = tokens.get(sessionToken);
      if (principal === undefined) return false;
      if (gate.sessions.touch(principal)) return true;
      tokens.delete(sessionToken);
      return false;
    },
  };
}
