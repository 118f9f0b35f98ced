// config.json plus CREDPOOL_* overrides: defaults, precedence, and start-up errors that name the field.
import { chmod, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadCredpoolConfig } from "@credpool/pool-core";
import { resolveConfig, resolveTotpSecretSource } from "../../src/config/index.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

describe("credpool config", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await createTempDir();
  });
  afterEach(async () => dir.remove());

  it("uses the documented defaults when there is no config.json", async () => {
    const loaded = await loadCredpoolConfig({ home: dir.path, env: {} });
    expect(loaded.fileExists).toBe(false);
    expect(loaded.config.totp).toMatchObject({
      lockoutAttempts: 3,
      lockoutMinutes: 15,
      sessionMinutes: 30,
      challengeSeconds: 120,
      burstAttempts: 6,
      burstWindowSeconds: 60,
      burstBlockSeconds: 60,
      secretCommandTimeoutMs: 5000,
      algorithm: "SHA1",
      requireTotpToServe: false,
    });
    expect(resolveTotpSecretSource(loaded.config.totp, dir.path)).toEqual({
      kind: "file",
      path: dir.file("totp.secret"),
    });
  });

  it("lets the environment override the file, and keeps sections it does not know", async () => {
    await writeFile(
      dir.file("config.json"),
      JSON.stringify({ totp: { lockoutAttempts: 5, sessionMinutes: 10 }, gateway: { port: 1 } }),
      { mode: 0o600 },
    );
    const loaded = await loadCredpoolConfig({ home: dir.path, env: { CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "7" } });
    expect(loaded.config.totp.lockoutAttempts).toBe(7);
    expect(loaded.config.totp.sessionMinutes).toBe(10);
    expect((loaded.config as Record<string, unknown>).gateway).toEqual({ port: 1 });
  });

  it("still loads a file with unknown keys, and warns about each by its full path and the file, with the likely key", async () => {
    const file = dir.file("config.json");
    await writeFile(
      file,
      JSON.stringify({
        totp: { lockoutAtempts: 5, sessionMinutes: 10 },
        refresh: {
          timeoutMs: 5000,
          providers: { "custom:idp": { tokenUrl: "https://idp.example/token", clientID: "cid" } },
        },
        gateway: { port: 1 },
      }),
      { mode: 0o600 },
    );
    const loaded = await loadCredpoolConfig({ home: dir.path, env: {} });
    expect(loaded.config.totp.sessionMinutes).toBe(10);
    expect(loaded.config.totp.lockoutAttempts).toBe(3);
    expect(loaded.warnings).toEqual([
      {
        key: "totp.lockoutAtempts",
        file,
        message: `unknown key \`totp.lockoutAtempts\` in ${file} is ignored; did you mean \`totp.lockoutAttempts\`?`,
      },
      {
        key: "refresh.providers.custom:idp.clientID",
        file,
        message: `unknown key \`refresh.providers.custom:idp.clientID\` in ${file} is ignored; did you mean \`refresh.providers.custom:idp.clientId\`?`,
      },
      { key: "gateway", file, message: `unknown key \`gateway\` in ${file} is ignored.` },
    ]);
  });

  it("has no warnings for a file that uses only known keys, or for no file", async () => {
    expect((await loadCredpoolConfig({ home: dir.path, env: {} })).warnings).toEqual([]);
    await writeFile(
      dir.file("config.json"),
      JSON.stringify({ totp: { lockoutAttempts: 5 }, refresh: { providers: { x: { skewMs: 1 } } } }),
      { mode: 0o600 },
    );
    expect((await loadCredpoolConfig({ home: dir.path, env: {} })).warnings).toEqual([]);
  });

  it("rejects an out-of-range value from the environment, naming the field and the variable", () => {
    expect(() => resolveConfig({}, { CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "0" })).toThrow(
      /totp\.lockoutAttempts \(from CREDPOOL_TOTP_LOCKOUT_ATTEMPTS\): must be at least 1 attempts/,
    );
    expect(() => resolveConfig({}, { CREDPOOL_TOTP_SESSION_MINUTES: "soon" })).toThrow(
      /CREDPOOL_TOTP_SESSION_MINUTES must be a whole number, got "soon"/,
    );
  });

  it("rejects an out-of-range value from config.json, naming the field and the file", async () => {
    await writeFile(dir.file("config.json"), JSON.stringify({ totp: { challengeSeconds: 5, lockoutMinutes: 2.5 } }), {
      mode: 0o600,
    });
    const failure = loadCredpoolConfig({ home: dir.path, env: {} });
    await expect(failure).rejects.toMatchObject({ code: "E_INVALID_OPTIONS" });
    const message = await failure.catch((error: Error) => error.message);
    expect(message).toContain(`totp.challengeSeconds (in ${dir.file("config.json")}): must be at least 10 seconds`);
    expect(message).toContain("totp.lockoutMinutes");
  });

  it("takes a secret command as an argument list, or a plain string split on spaces, and refuses shell syntax", () => {
    expect(resolveConfig({ totp: { secretCommand: ["sudo", "-n", "cat", "/etc/x"] } }, {}).totp.secretCommand).toEqual([
      "sudo",
      "-n",
      "cat",
      "/etc/x",
    ]);
    expect(resolveConfig({}, { CREDPOOL_TOTP_SECRET_COMMAND: "sudo -n cat /etc/x" }).totp.secretCommand).toEqual([
      "sudo",
      "-n",
      "cat",
      "/etc/x",
    ]);
    expect(() => resolveConfig({}, { CREDPOOL_TOTP_SECRET_COMMAND: "cat /etc/x | head" })).toThrow(/no shell/);
  });

  it("refuses both secret sources in one place, and lets the environment replace the file's choice", () => {
    expect(() => resolveConfig({ totp: { secretFile: "/a", secretCommand: ["cat", "/b"] } }, {})).toThrow(
      /either secretFile or secretCommand/,
    );
    const fromEnv = resolveConfig({ totp: { secretCommand: ["cat", "/b"] } }, { CREDPOOL_TOTP_SECRET_FILE: "/a" });
    expect(fromEnv.totp.secretCommand).toBeUndefined();
    expect(fromEnv.totp.secretFile).toBe("/a");
  });

  it("refuses a config.json that group or others can write (it chooses which command runs)", async () => {
    await writeFile(dir.file("config.json"), "{}");
    await chmod(dir.file("config.json"), 0o664);
    await expect(loadCredpoolConfig({ home: dir.path, env: {} })).rejects.toThrow(
      /writable by group or others.*chmod 600/,
    );
  });

  it("reports invalid JSON without quoting the file", async () => {
    await writeFile(dir.file("config.json"), '{"totp": {"secretFile": "hunter2"', { mode: 0o600 });
    const message = await loadCredpoolConfig({ home: dir.path, env: {} }).catch((error: Error) => error.message);
    expect(message).toMatch(/is not valid JSON/);
    expect(message).not.toContain("hunter2");
  });
});
