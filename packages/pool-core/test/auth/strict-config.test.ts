// Only config.json loosens the gate: each CREDPOOL_TOTP_* variable is kept when it is at least as strict as the
// file's value and dropped, by name, when it would loosen it.
import { describe, expect, it } from "vitest";
import { tightenTotpConfig } from "@credpool/pool-core";
import { resolveConfig } from "../../src/config/index.js";

function tighten(file: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  return tightenTotpConfig(resolveConfig({ totp: file }, {}).totp, resolveConfig({ totp: file }, env).totp, env);
}

describe("tightenTotpConfig", () => {
  it("keeps variables that make the gate stricter", () => {
    const { config, ignored } = tighten(
      {},
      {
        CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "2",
        CREDPOOL_TOTP_LOCKOUT_MINUTES: "60",
        CREDPOOL_TOTP_BURST_WINDOW_SECONDS: "600",
        CREDPOOL_TOTP_SESSION_MINUTES: "5",
        CREDPOOL_TOTP_REQUIRE_TO_SERVE: "true",
      },
    );
    expect(ignored).toEqual([]);
    expect(config).toMatchObject({
      lockoutAttempts: 2,
      lockoutMinutes: 60,
      burstWindowSeconds: 600,
      sessionMinutes: 5,
      requireTotpToServe: true,
    });
  });

  it("drops, by name, variables that would loosen it, and keeps config.json's value", () => {
    const { config, ignored } = tighten(
      { lockoutMinutes: 30 },
      {
        CREDPOOL_TOTP_LOCKOUT_ATTEMPTS: "100",
        CREDPOOL_TOTP_BURST_ATTEMPTS: "1000",
        CREDPOOL_TOTP_LOCKOUT_MINUTES: "1",
        CREDPOOL_TOTP_BURST_BLOCK_SECONDS: "1",
        CREDPOOL_TOTP_SESSION_MINUTES: "1440",
      },
    );
    expect(ignored.map((entry) => entry.env).sort()).toEqual([
      "CREDPOOL_TOTP_BURST_ATTEMPTS",
      "CREDPOOL_TOTP_BURST_BLOCK_SECONDS",
      "CREDPOOL_TOTP_LOCKOUT_ATTEMPTS",
      "CREDPOOL_TOTP_LOCKOUT_MINUTES",
      "CREDPOOL_TOTP_SESSION_MINUTES",
    ]);
    expect(config).toMatchObject({
      lockoutAttempts: 3,
      burstAttempts: 6,
      lockoutMinutes: 30,
      burstBlockSeconds: 60,
      sessionMinutes: 30,
    });
  });

  it("never takes the secret's location or the algorithm from the environment", () => {
    const { config, ignored } = tighten(
      { secretCommand: ["sudo", "-n", "cat", "/etc/credpool/totp.secret"] },
      {
        CREDPOOL_TOTP_SECRET_FILE: "/tmp/mine.secret",
        CREDPOOL_TOTP_ALGORITHM: "SHA512",
      },
    );
    expect(ignored.map((entry) => entry.env).sort()).toEqual(["CREDPOOL_TOTP_ALGORITHM", "CREDPOOL_TOTP_SECRET_FILE"]);
    expect(config.secretCommand).toEqual(["sudo", "-n", "cat", "/etc/credpool/totp.secret"]);
    expect(config.secretFile).toBeUndefined();
    expect(config.algorithm).toBe("SHA1");
  });
});
