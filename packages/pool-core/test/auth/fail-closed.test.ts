// Failure 7 (failing open): whenever the secret or the state is in doubt, access is denied with E_TOTP_STATE and a
// repair hint; it never reads as "TOTP not configured", and a lost state never resets the counters.
import { chmod, chown, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTotpGate, isPoolError, type TotpGate } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { TEST_SECRET, codeAt, seedConfiguredTotp, wrongCodes, type SeededTotp } from "./totp-fixture.js";

async function stateErrorOf(promise: Promise<unknown>): Promise<{ message: string; reason: unknown }> {
  try {
    await promise;
  } catch (error) {
    if (isPoolError(error, "E_TOTP_STATE")) return { message: error.message, reason: error.details?.reason };
    throw error;
  }
  throw new Error("expected E_TOTP_STATE");
}

describe("fail closed", () => {
  let dir: TempDir;
  let seeded: SeededTotp;
  let gate: TotpGate;

  beforeEach(async () => {
    dir = await createTempDir();
    seeded = await seedConfiguredTotp(dir.path);
    gate = createTotpGate({ home: dir.path });
  });
  afterEach(async () => {
    await gate.close();
    await dir.remove();
  });

  it("denies a valid code when the secret exists and the state file is truncated", async () => {
    const text = await readFile(seeded.statePath, "utf8");
    await truncate(seeded.statePath, Math.floor(text.length / 2));
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.message).toContain(seeded.statePath);
    expect(denied.message).toMatch(/invalid JSON/);
    expect(denied.message).toMatch(/Access is denied/);
    // The exact repair: no backup was written yet (one commit), so the hint is reset and set up again.
    expect(denied.message).toMatch(/credpool totp reset --force/);
    const authorize = await stateErrorOf(gate.authorize("alice", { action: "reveal x" }));
    expect(authorize.message).toContain(seeded.statePath);
    const inspection = await gate.inspect();
    expect(inspection.state).toBe("broken");
    // Nothing was written over the damaged file.
    expect((await readFile(seeded.statePath, "utf8")).length).toBe(Math.floor(text.length / 2));
  });

  it("points at the backup when there is a good one", async () => {
    await expect(gate.verify("alice", wrongCodes(1, Date.now())[0] ?? "")).rejects.toMatchObject({
      code: "E_TOTP_INVALID",
    });
    await writeFile(seeded.statePath, "{");
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.message).toContain(`cp ${seeded.statePath}.bak ${seeded.statePath}`);
  });

  it("does not point at a backup that holds no confirmed setup (the one right after setup --confirm)", async () => {
    const state = JSON.parse(await readFile(seeded.statePath, "utf8")) as Record<string, unknown>;
    delete state.totp;
    await writeFile(`${seeded.statePath}.bak`, JSON.stringify(state), { mode: 0o600 });
    await writeFile(seeded.statePath, "{");
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.message).not.toContain(`cp ${seeded.statePath}.bak`);
    expect(denied.message).toMatch(/from before the setup was confirmed/);
    expect(denied.message).toMatch(/credpool totp reset --force/);
  });

  it("denies when the state is valid JSON but partial (a required field is missing)", async () => {
    await writeFile(
      seeded.statePath,
      JSON.stringify({ schemaVersion: 1, rev: 3, updatedAt: new Date().toISOString() }),
      { mode: 0o600 },
    );
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.message).toMatch(/principals/);
  });

  it("denies when the secret file has mode 0644, naming the mode and the fix", async () => {
    await chmod(seeded.secretPath, 0o644);
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.reason).toBe("secret-mode");
    expect(denied.message).toContain("mode 644");
    expect(denied.message).toContain(`chmod 600 ${seeded.secretPath}`);
    expect(denied.message).not.toContain(TEST_SECRET);
    expect((await gate.inspect()).state).toBe("broken");
  });

  it("denies when the secret file is group-readable only (0640)", async () => {
    await chmod(seeded.secretPath, 0o640);
    expect((await stateErrorOf(gate.verify("alice", codeAt(Date.now())))).reason).toBe("secret-mode");
  });

  // Only root can give a file away; as anyone else the case cannot be set up.
  it.skipIf(process.getuid?.() !== 0)(
    "denies when the secret file belongs to another user, even with mode 0600",
    async () => {
      await chown(seeded.secretPath, 65534, 65534);
      const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
      expect(denied.reason).toBe("secret-owner");
      expect(denied.message).toContain("belongs to uid 65534");
      expect(denied.message).toContain("totp.secretCommand");
    },
  );

  it("denies when the secret file is partial", async () => {
    await writeFile(seeded.secretPath, TEST_SECRET.slice(0, 12), { mode: 0o600 });
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.reason).toBe("secret-invalid");
    expect(denied.message).toMatch(/partial/);
    expect(denied.message).not.toContain(TEST_SECRET.slice(0, 12));
  });

  it("denies, and does not report 'not configured', when the secret file was deleted after setup", async () => {
    await rm(seeded.secretPath);
    const denied = await stateErrorOf(gate.authorize("alice", { action: "reveal x" }));
    expect(denied.reason).toBe("secret-missing");
    expect((await gate.inspect()).state).toBe("broken");
  });

  it("denies when the state file was deleted (deleting it does not clear a lockout)", async () => {
    for (const code of wrongCodes(3, Date.now())) await gate.verify("alice", code).catch(() => undefined);
    await rm(seeded.statePath);
    await rm(`${seeded.statePath}.bak`, { force: true });
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.reason).toBe("state-missing");
  });

  it("denies when the secret was swapped for another one", async () => {
    await writeFile(seeded.secretPath, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n", { mode: 0o600 });
    expect((await stateErrorOf(gate.verify("alice", "123456"))).reason).toBe("secret-mismatch");
  });

  // Root reads through mode 000, so this case needs an ordinary user.
  it.skipIf(process.getuid?.() === 0)("denies when the state file cannot be read", async () => {
    await chmod(seeded.statePath, 0o000);
    try {
      const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
      expect(denied.message).toMatch(/EACCES/);
    } finally {
      await chmod(seeded.statePath, 0o600);
    }
  });

  it("denies when the secret command fails, and never calls it 'not configured'", async () => {
    await gate.close();
    gate = createTotpGate({
      home: dir.path,
      config: { secretCommand: ["sh", "-c", "echo 'sudo: a password is required' >&2; exit 1"] },
    });
    const denied = await stateErrorOf(gate.verify("alice", codeAt(Date.now())));
    expect(denied.message).toMatch(/exited with status 1/);
    expect(denied.message).toMatch(/a password is required/);
    expect((await gate.inspect({ probeSecret: true })).state).toBe("broken");
  });
});
