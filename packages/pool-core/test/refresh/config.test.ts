// The `refresh` and `sources` sections of config.json: validated at load, and the environment still wins.
import { describe, expect, it } from "vitest";
import { createRefresher, isPoolError, type Credential } from "@credpool/pool-core";
import { findConfigWarnings, resolveConfig } from "../../src/config/index.js";

function oauth(provider: string): Credential {
  return {
    id: "c1",
    label: "work",
    provider,
    kind: "oauth",
    priority: 0,
    source: "manual",
    secrets: { accessToken: "at", refreshToken: "rt", expiresAt: Date.now() + 90_000 },
    tokenGeneration: 0,
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
  };
}

describe("refresh configuration", () => {
  it("configures a generic provider's endpoint and skew from config.json", () => {
    const config = resolveConfig(
      {
        refresh: {
          timeoutMs: 5000,
          providers: { "custom:idp": { tokenUrl: "https://idp.example/token", clientId: "cid", skewMs: 120_000 } },
        },
      },
      {},
    );
    const refresher = createRefresher({ ...config.refresh, env: {} });
    expect(refresher.endpointFor(oauth("custom:idp"))).toMatchObject({
      tokenUrl: "https://idp.example/token",
      clientId: "cid",
      bodyStyle: "form",
    });
    // 90 s left and a 120 s skew: due.
    expect(refresher.isDue(oauth("custom:idp"))).toBe(true);
    // The environment beats the file, as for every other credpool setting.
    const overridden = createRefresher({ ...config.refresh, env: { CREDPOOL_IDP_TOKEN_URL: "http://127.0.0.1:1/t" } });
    expect(overridden.endpointFor(oauth("custom:idp")).tokenUrl).toBe("http://127.0.0.1:1/t");
  });

  it("rejects out-of-range values at load with a message naming the field", () => {
    try {
      resolveConfig({ refresh: { timeoutMs: -5 } }, {});
      throw new Error("expected a failure");
    } catch (error) {
      expect(isPoolError(error, "E_INVALID_OPTIONS")).toBe(true);
      expect((error as Error).message).toMatch(/refresh\.timeoutMs/);
    }
    expect(() => resolveConfig({ sources: { env: { "NOT A VAR": "openrouter" } } }, {})).toThrow(
      /sources\.env\.NOT A VAR/,
    );
  });

  it("keeps loading a config written by a newer build with fields this one does not know", () => {
    const raw = { refresh: { futureKnob: true, providers: { anthropic: { futureField: 1 } } } };
    const config = resolveConfig(raw, {});
    expect(() => createRefresher({ ...config.refresh, env: {} })).not.toThrow();
    expect(findConfigWarnings(raw).map((warning) => warning.key)).toEqual([
      "refresh.futureKnob",
      "refresh.providers.anthropic.futureField",
    ]);
  });

  it("still reads the old name refresh.adapters, with a warning to rename it; refresh.providers wins per provider", () => {
    const raw = {
      refresh: {
        adapters: {
          "custom:idp": { tokenUrl: "https://old.example/token" },
          "custom:other": { tokenUrl: "https://other.example/token" },
        },
        providers: { "custom:idp": { tokenUrl: "https://new.example/token" } },
      },
    };
    const refresher = createRefresher({ ...resolveConfig(raw, {}).refresh, env: {} });
    expect(refresher.endpointFor(oauth("custom:idp")).tokenUrl).toBe("https://new.example/token");
    expect(refresher.endpointFor(oauth("custom:other")).tokenUrl).toBe("https://other.example/token");
    expect(findConfigWarnings(raw, "/h/config.json")).toEqual([
      {
        key: "refresh.adapters",
        file: "/h/config.json",
        message:
          "`refresh.adapters` in /h/config.json is the old name of `refresh.providers`; it still works, but rename it.",
      },
    ]);
  });
});
