// Adapts core's TOTP gate to the admin API: a verified code opens a session the client carries as a bearer value.
import { randomBytes } from "node:crypto";
import type { TotpGate } from "@credpool/pool-core";
import type { AdminGate } from "./routes/services.js";

export function createAdminGate(gate: TotpGate): AdminGate {
  // Session token -> whose session it is. The gate owns idle timeouts; this map only names the owner.
  const sessions = new Map<string, { principal: string; tokenId: string }>();
  return {
    async isConfigured() {
      const inspection = await gate.inspect();
      // Fail closed: a broken secret or state file refuses every admin action instead of skipping the check.
      if (inspection.state === "broken") throw inspection.problem ?? new Error("TOTP state is broken");
      return inspection.state === "configured";
    },
    async openSession(principal, code, tokenId) {
      const { session } = await gate.verify(principal, code, { action: "admin session" });
      for (const [token, owner] of sessions) if (owner.principal === principal) sessions.delete(token);
      const sessionToken = randomBytes(24).toString("base64url");
      sessions.set(sessionToken, { principal, tokenId });
      return { sessionToken, expiresAt: session.expiresAt };
    },
    checkSession(sessionToken, tokenId) {
      const owner = sessions.get(sessionToken);
      // Another admin token holding this session token did not type a code: refused, and the session stays its owner's.
      if (owner === undefined || owner.tokenId !== tokenId) return false;
      if (gate.sessions.touch(owner.principal)) return true;
      sessions.delete(sessionToken);
      return false;
    },
  };
}
