// Setup and reset: a secret only becomes active once a code confirms it, a second setup never swaps the secret under
// a configured gate, and reset needs a code or force.
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  beginTotpSetup,
  confirmTotpSetup,
  createTotpGate,
  describeSecretCommandSetup,
  generateTotpCode,
  resetTotp,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { readAuthState, wrongCodes } from "./totp-fixture.js";

describe("TOTP setup and reset", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await createTempDir();
  });
  afterEach(async () => dir.remove());

  const codeFor = (secret: string, at = Date.now()): string =>
    generateTotpCode({ secret, algorithm: "SHA1", timestamp: at });

  it("begins with a 20-byte secret and an otpauth URI (issuer credpool, the user as label), active only after confirm", async () => {
    const begun = await beginTotpSetup({ home: dir.path, label: "alice" });
    expect(begun.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(begun.uri).toBe(
      `otpauth://totp/credpool:alice?issuer=credpool&secret=${begun.secret}&algorithm=SHA1&digits=6&period=30`,
    );
    expect((await stat(begun.pendingPath ?? "")).mode & 0o777).toBe(0o600);

    const gate = createTotpGate({ home: dir.path });
    expect((await gate.inspect()).state).toBe("setup-pending");
    await expect(gate.authorize("alice", { action: "reveal x" })).resolves.toEqual({ method: "not-configured" });

    await expect(
      confirmTotpSetup({ home: dir.path, principal: "alice", code: wrongCodes(1, Date.now(), begun.secret)[0] ?? "" }),
    ).rejects.toMatchObject({
      code: "E_TOTP_INVALID",
    });
    await expect(stat(join(dir.path, "totp.secret"))).rejects.toMatchObject({ code: "ENOENT" });

    const confirmed = await confirmTotpSetup({ home: dir.path, principal: "alice", code: codeFor(begun.secret) });
    expect(confirmed).toMatchObject({ source: "file", label: "alice", secretPath: join(dir.path, "totp.secret") });
    expect((await readFile(join(dir.path, "totp.secret"), "utf8")).trim()).toBe(begun.secret);
    expect((await stat(join(dir.path, "totp.secret"))).mode & 0o777).toBe(0o600);
    await expect(stat(begun.pendingPath ?? "")).rejects.toMatchObject({ code: "ENOENT" });
    const state = await readAuthState(join(dir.path, "auth-state.json"));
    expect(state.totp).toMatchObject({ source: "file", label: "alice" });
    expect(state.setup).toBeUndefined();

    expect((await gate.inspect()).state).toBe("configured");
    await expect(gate.authorize("alice", { action: "reveal x" })).rejects.toMatchObject({ code: "E_TOTP_REQUIRED" });
    await gate.close();
  });

  it("refuses a second setup while TOTP is configured, and keeps the secret", async () => {
    const begun = await beginTotpSetup({ home: dir.path, label: "alice" });
    await confirmTotpSetup({ home: dir.path, principal: "alice", code: codeFor(begun.secret) });
    await expect(beginTotpSetup({ home: dir.path, label: "mallory" })).rejects.toMatchObject({ code: "E_CONFLICT" });
    expect((await readFile(join(dir.path, "totp.secret"), "utf8")).trim()).toBe(begun.secret);
  });

  it("reset needs a valid code; with one it removes the secret and the state", async () => {
    const begun = await beginTotpSetup({ home: dir.path, label: "alice" });
    const now = Date.now();
    await confirmTotpSetup({ home: dir.path, principal: "alice", code: codeFor(begun.secret, now - 30_000) });
    await expect(resetTotp({ home: dir.path, principal: "alice", force: false })).rejects.toMatchObject({
      code: "E_TOTP_REQUIRED",
    });
    await expect(
      resetTotp({ home: dir.path, principal: "alice", force: false, code: wrongCodes(1, now, begun.secret)[0] ?? "" }),
    ).rejects.toMatchObject({
      code: "E_TOTP_INVALID",
    });
    const reset = await resetTotp({
      home: dir.path,
      principal: "alice",
      force: false,
      code: codeFor(begun.secret, now),
    });
    expect(reset.removed).toEqual(
      expect.arrayContaining([join(dir.path, "totp.secret"), join(dir.path, "auth-state.json")]),
    );
    const gate = createTotpGate({ home: dir.path });
    expect((await gate.inspect()).state).toBe("not-configured");
    await gate.close();
  });

  it("reset with force works even when the state is broken", async () => {
    const begun = await beginTotpSetup({ home: dir.path, label: "alice" });
    await confirmTotpSetup({ home: dir.path, principal: "alice", code: codeFor(begun.secret) });
    await writeFile(join(dir.path, "auth-state.json"), '{"schemaVer');
    await expect(resetTotp({ home: dir.path, principal: "alice", force: false, code: "123456" })).rejects.toMatchObject(
      { code: "E_TOTP_STATE" },
    );
    await expect(resetTotp({ home: dir.path, principal: "alice", force: true })).resolves.toMatchObject({
      source: "file",
    });
    await expect(stat(join(dir.path, "totp.secret"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("with a secret command: the gate is closed until confirmed, and confirm checks the command's secret", async () => {
    const secretFile = dir.file("root-secret");
    const config = { secretCommand: ["cat", secretFile] };
    const gate = createTotpGate({ home: dir.path, config });
    expect((await gate.inspect()).state).toBe("broken");
    await expect(gate.authorize("alice", { action: "export" })).rejects.toMatchObject({ code: "E_TOTP_STATE" });

    const begun = await beginTotpSetup({ home: dir.path, label: "alice", config });
    expect(begun.pendingPath).toBeUndefined();
    expect(begun.command).toEqual(["cat", secretFile]);
    await writeFile(secretFile, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n");
    await expect(
      confirmTotpSetup({ home: dir.path, principal: "alice", code: "123456", config }),
    ).rejects.toMatchObject({
      code: "E_TOTP_STATE",
      details: { reason: "secret-mismatch" },
    });
    await writeFile(secretFile, `${begun.secret}\n`);
    await confirmTotpSetup({ home: dir.path, principal: "alice", code: codeFor(begun.secret), config });
    expect((await gate.inspect({ probeSecret: true })).state).toBe("configured");
    await gate.close();
  });

  it("prints the exact install and sudoers lines for `sudo -n cat FILE`", async () => {
    const lines = await describeSecretCommandSetup(["sudo", "-n", "cat", "/etc/credpool/totp.secret"], "svc", {
      PATH: "/usr/bin:/bin",
    });
    expect(lines).toContain(
      "echo 'svc ALL=(root) NOPASSWD: /usr/bin/cat /etc/credpool/totp.secret' | sudo tee /etc/sudoers.d/credpool-totp >/dev/null",
    );
    expect(lines).toContain(
      "sudo sh -c 'umask 077; cat > /etc/credpool/totp.secret' && sudo chown root /etc/credpool/totp.secret && sudo chmod 0600 /etc/credpool/totp.secret",
    );
    expect(lines).toContain("sudo -n cat /etc/credpool/totp.secret");
  });
});
