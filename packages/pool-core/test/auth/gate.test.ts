// The gate in one process with a controlled clock: what counts as an attempt, replay, lockout, the burst limit,
// sessions and challenges, and what the audit log sees. Cross-process guarantees are in test/auth/ at the root.
import { readFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTotpGate, isPoolError, type TotpGate, type TotpGateOptions } from "@credpool/pool-core";
import { type AuditEvent } from "../../src/auth/index.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { TEST_SECRET, codeAt, readAuthState, seedConfiguredTotp, wrongCodes, type SeededTotp } from "./totp-fixture.js";

const T0 = 1_700_000_010_000;

async function rejectionOf(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; retryAfterMs?: number; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    if (isPoolError(error)) {
      return {
        code: error.code,
        message: error.message,
        ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        ...(error.details === undefined ? {} : { details: error.details }),
      };
    }
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("TOTP gate", () => {
  let dir: TempDir;
  let seeded: SeededTotp;
  let now: number;
  let events: AuditEvent[];
  let gate: TotpGate;

  const open = (config: TotpGateOptions["config"] = {}): TotpGate =>
    createTotpGate({
      home: dir.path,
      config: { auditThrottleSeconds: 0, ...config },
      clock: () => now,
      audit: (event) => events.push(event),
    });

  beforeEach(async () => {
    dir = await createTempDir();
    seeded = await seedConfiguredTotp(dir.path);
    now = T0;
    events = [];
    gate = open();
  });
  afterEach(async () => {
    await gate.close();
    await dir.remove();
  });

  it("accepts the current code and starts a session", async () => {
    const result = await gate.verify("alice", codeAt(now));
    expect(result.step).toBe(Math.floor(now / 30_000));
    expect(gate.sessions.get("alice")?.expiresAt).toBe(now + 30 * 60_000);
    expect(events.map((event) => event.type)).toEqual(["totp.verify.ok"]);
  });

  it.each([["12345"], ["1234567"], ["١٢٣٤٥٦"], ["12 345"], [""]])(
    "rejects %j with E_TOTP_MALFORMED and leaves the state file untouched",
    async (input) => {
      const before = await readFile(seeded.statePath, "utf8");
      const failure = await rejectionOf(gate.verify("alice", input));
      expect(failure.code).toBe("E_TOTP_MALFORMED");
      expect(failure.message).toMatch(/did not count as an attempt/);
      expect(await readFile(seeded.statePath, "utf8")).toBe(before);
      const state = await readAuthState(seeded.statePath);
      expect(state.principals.alice).toBeUndefined();
      expect(events.map((event) => event.type)).toEqual(["totp.verify.malformed"]);
    },
  );

  it("malformed input does not advance a count that is one short of the lockout", async () => {
    const [first, second] = wrongCodes(2, now);
    await rejectionOf(gate.verify("alice", first ?? ""));
    await rejectionOf(gate.verify("alice", second ?? ""));
    for (const input of ["12345", "1234567", "١٢٣٤٥٦", "12 345", ""]) await rejectionOf(gate.verify("alice", input));
    expect((await readAuthState(seeded.statePath)).principals.alice?.failures).toBe(2);
    // The next real attempt is still accepted: malformed input did not push it into a lockout.
    await expect(gate.verify("alice", codeAt(now))).resolves.toMatchObject({ principal: "alice" });
  });

  it("rejects the same code a second time in its step with E_TOTP_REPLAY, even for another principal", async () => {
    const code = codeAt(now);
    await gate.verify("alice", code);
    const again = await rejectionOf(gate.verify("alice", code));
    expect(again.code).toBe("E_TOTP_REPLAY");
    expect(again.retryAfterMs).toBeGreaterThan(0);
    // One shared secret: a code seen once must not open the gate for someone else either.
    expect((await rejectionOf(gate.verify("bob", code))).code).toBe("E_TOTP_REPLAY");
    // A replay is not a guess: it does not count toward the lockout.
    expect((await readAuthState(seeded.statePath)).principals.alice?.failures).toBe(0);
  });

  it("rejects an older step once a newer one was accepted", async () => {
    await gate.verify("alice", codeAt(now));
    now += 30_000;
    // The previous step is inside the window but at or below the last accepted step.
    expect((await rejectionOf(gate.verify("alice", codeAt(now - 30_000)))).code).toBe("E_TOTP_REPLAY");
    await expect(gate.verify("alice", codeAt(now))).resolves.toMatchObject({ step: Math.floor(now / 30_000) });
  });

  it("locks out at the third failure; during the lockout a valid code fails with E_TOTP_LOCKED and the time left", async () => {
    const wrong = wrongCodes(3, now);
    const first = await rejectionOf(gate.verify("alice", wrong[0] ?? ""));
    expect(first).toMatchObject({ code: "E_TOTP_INVALID", details: { failures: 1, remaining: 2 } });
    expect((await rejectionOf(gate.verify("alice", wrong[1] ?? ""))).code).toBe("E_TOTP_INVALID");
    const third = await rejectionOf(gate.verify("alice", wrong[2] ?? ""));
    expect(third).toMatchObject({
      code: "E_TOTP_LOCKED",
      retryAfterMs: 15 * 60_000,
      details: { reason: "lockout", failures: 3 },
    });

    now += 5 * 60_000;
    const valid = await rejectionOf(gate.verify("alice", codeAt(now)));
    expect(valid).toMatchObject({ code: "E_TOTP_LOCKED", retryAfterMs: 10 * 60_000 });
    expect(valid.message).toMatch(/wait 10m/);
    // Another principal is not locked out by alice's failures.
    await expect(gate.verify("bob", codeAt(now))).resolves.toMatchObject({ principal: "bob" });

    expect(events.filter((event) => event.type === "totp.lockout.start")).toHaveLength(1);
    expect(events.some((event) => event.type === "auth.denied")).toBe(true);
  });

  it("ends the lockout after lockoutMinutes, with a fresh count", async () => {
    for (const code of wrongCodes(3, now)) await rejectionOf(gate.verify("alice", code));
    now += 15 * 60_000;
    await expect(gate.verify("alice", codeAt(now))).resolves.toMatchObject({ principal: "alice" });
    expect((await readAuthState(seeded.statePath)).principals.alice).toMatchObject({ failures: 0 });
    expect(events.map((event) => event.type)).toContain("totp.lockout.end");
  });

  it("a success resets the failure count", async () => {
    const wrong = wrongCodes(4, now);
    await rejectionOf(gate.verify("alice", wrong[0] ?? ""));
    await rejectionOf(gate.verify("alice", wrong[1] ?? ""));
    await gate.verify("alice", codeAt(now));
    expect((await readAuthState(seeded.statePath)).principals.alice?.failures).toBe(0);
    now += 30_000;
    expect((await rejectionOf(gate.verify("alice", wrong[2] ?? ""))).details).toMatchObject({ failures: 1 });
  });

  it("blocks for burstBlockSeconds at the sixth attempt within 60 s, separately from the lockout", async () => {
    await gate.close();
    gate = open({ lockoutAttempts: 50 });
    const wrong = wrongCodes(6, now);
    for (const code of wrong.slice(0, 5)) {
      expect((await rejectionOf(gate.verify("alice", code))).code).toBe("E_TOTP_INVALID");
      now += 1000;
    }
    const sixth = await rejectionOf(gate.verify("alice", wrong[5] ?? ""));
    expect(sixth).toMatchObject({ code: "E_TOTP_LOCKED", retryAfterMs: 60_000, details: { reason: "burst" } });
    // The blocked attempt was not evaluated, so it is not a failure.
    expect((await readAuthState(seeded.statePath)).principals.alice?.failures).toBe(5);
    now += 30_000;
    expect((await rejectionOf(gate.verify("alice", codeAt(now)))).details).toMatchObject({ reason: "burst" });
    now += 30_000;
    await expect(gate.verify("alice", codeAt(now))).resolves.toMatchObject({ principal: "alice" });
  });

  it("ends an idle session after sessionMinutes and extends it on use", async () => {
    await gate.verify("alice", codeAt(now));
    now += 29 * 60_000;
    expect(gate.sessions.touch("alice")).toBeDefined();
    now += 29 * 60_000;
    await expect(gate.authorize("alice", { action: "reveal x" })).resolves.toEqual({ method: "session" });
    now += 31 * 60_000;
    expect(gate.sessions.get("alice")).toBeUndefined();
    const denied = await rejectionOf(gate.authorize("alice", { action: "reveal x" }));
    expect(denied.code).toBe("E_TOTP_REQUIRED");
    expect(denied.message).toMatch(/^reveal x needs a TOTP code/);
  });

  it("accepts an answer inside the challenge window and refuses one after it without counting it", async () => {
    expect((await rejectionOf(gate.authorize("alice", { action: "export" }))).code).toBe("E_TOTP_REQUIRED");
    now += 121_000;
    const late = await rejectionOf(gate.answerChallenge("alice", codeAt(now)));
    expect(late.code).toBe("E_TOTP_REQUIRED");
    expect(late.message).toMatch(/ran out/);
    // Refusing it reopened the prompt; an answer now is checked.
    now += 10_000;
    await expect(gate.answerChallenge("alice", codeAt(now))).resolves.toMatchObject({ principal: "alice" });
    expect(gate.hasAuthenticatedSinceStart()).toBe(true);
  });

  it("authorize passes without a code when TOTP is not configured", async () => {
    const empty = await createTempDir();
    const bare = createTotpGate({ home: empty.path });
    try {
      await expect(bare.authorize("alice", { action: "reveal x" })).resolves.toEqual({ method: "not-configured" });
      expect((await bare.inspect()).state).toBe("not-configured");
      expect((await rejectionOf(bare.verify("alice", "123456"))).code).toBe("E_TOTP_NOT_CONFIGURED");
    } finally {
      await bare.close();
      await empty.remove();
    }
  });

  it("reports status: failures, the block and its time left", async () => {
    for (const code of wrongCodes(3, now)) await rejectionOf(gate.verify("alice", code));
    now += 60_000;
    const status = await gate.status("alice");
    expect(status).toMatchObject({
      state: "configured",
      failures: 3,
      lockoutAttempts: 3,
      block: { reason: "lockout", remainingMs: 14 * 60_000 },
    });
    expect((await gate.status("bob")).block).toBeUndefined();
  });

  it("masks principals in audit events and never logs codes or the secret", async () => {
    const code = codeAt(now);
    await gate.verify("alice@example.com", code);
    await rejectionOf(gate.verify("alice@example.com", wrongCodes(1, now)[0] ?? ""));
    const text = JSON.stringify(events);
    expect(text).not.toContain("alice@example.com");
    expect(text).not.toContain(code);
    expect(text).not.toContain(TEST_SECRET);
    expect(events[0]?.principal).toMatch(/^ali…#[0-9a-f]{6}$/);
    expect(events[0]?.principal).toBe(events[1]?.principal);
  });

  it("names the action a code was for on every verification line, whichever way it ends", async () => {
    await gate.authorize("alice", { action: "reveal anthropic/work", code: codeAt(now) });
    await rejectionOf(gate.authorize("bob", { action: "export", code: wrongCodes(1, now)[0] ?? "" }));
    await rejectionOf(gate.authorize("carol", { action: "remove x", code: "12345" }));
    await rejectionOf(gate.verify("alice", codeAt(now), { action: "admin session" }));
    expect(events.map(({ type, action }) => ({ type, action }))).toEqual([
      { type: "totp.verify.ok", action: "reveal anthropic/work" },
      { type: "totp.verify.fail", action: "export" },
      { type: "totp.verify.malformed", action: "remove x" },
      { type: "totp.verify.replay", action: "admin session" },
    ]);
  });

  it("throttles repeated audit lines per principal and reports how many it folded", async () => {
    await gate.close();
    gate = open({ auditThrottleSeconds: 60, lockoutAttempts: 50, burstAttempts: 100 });
    for (let i = 0; i < 5; i++) await rejectionOf(gate.verify("alice", "12345"));
    await rejectionOf(gate.verify("bob", "12345"));
    expect(events.map((event) => `${event.type}:${event.suppressed ?? 0}`)).toEqual([
      "totp.verify.malformed:0",
      "totp.verify.malformed:0",
    ]);
    now += 61_000;
    await rejectionOf(gate.verify("alice", "12345"));
    expect(events.at(-1)).toMatchObject({ type: "totp.verify.malformed", suppressed: 4 });
  });
});
