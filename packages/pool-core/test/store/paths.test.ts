// Default pool location: $CREDPOOL_HOME, else $XDG_CONFIG_HOME/credpool, else ~/.config/credpool.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createFileBackend, resolvePoolOption, resolvePoolPath } from "@credpool/pool-core";
import { createTempDir } from "@credpool/pool-testkit";
import { resolveCredpoolHome } from "../../src/store/index.js";

describe("default pool location", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("uses CREDPOOL_HOME when it is set, even if XDG_CONFIG_HOME is set too", () => {
    const env = { CREDPOOL_HOME: "/srv/credpool", XDG_CONFIG_HOME: "/home/u/.xdg" };
    expect(resolveCredpoolHome(env)).toBe("/srv/credpool");
    expect(resolvePoolPath(env)).toBe("/srv/credpool/pool.json");
  });

  it("resolves a relative CREDPOOL_HOME to an absolute path", () => {
    expect(resolveCredpoolHome({ CREDPOOL_HOME: "rel/pool-home" })).toBe(resolve("rel/pool-home"));
  });

  it("falls back to $XDG_CONFIG_HOME/credpool", () => {
    expect(resolveCredpoolHome({ XDG_CONFIG_HOME: "/home/u/.xdg" })).toBe("/home/u/.xdg/credpool");
  });

  it("falls back to ~/.config/credpool when neither variable is set, and treats empty values as unset", () => {
    const expected = join(homedir(), ".config", "credpool");
    expect(resolveCredpoolHome({})).toBe(expected);
    expect(resolveCredpoolHome({ CREDPOOL_HOME: "", XDG_CONFIG_HOME: "" })).toBe(expected);
  });

  it("places a backend created without a path at $CREDPOOL_HOME/pool.json", () => {
    vi.stubEnv("CREDPOOL_HOME", "/tmp/credpool-home-for-test");
    const backend = createFileBackend();
    expect(backend.path).toBe("/tmp/credpool-home-for-test/pool.json");
    expect(backend.location).toBe(backend.path);
    expect(backend.lockPath).toBe("/tmp/credpool-home-for-test/pool.json.lock");
    expect(backend.backupPath).toBe("/tmp/credpool-home-for-test/pool.json.bak");
  });
});

describe("a --pool option (the CLI's and the gateway's)", () => {
  it("takes a directory, existing or not, as the place of pool.json", async () => {
    const dir = await createTempDir("credpool-pool-option-");
    try {
      expect(await resolvePoolOption(dir.path, {})).toBe(dir.file("pool.json"));
      expect(await resolvePoolOption(dir.file("not-yet"), {})).toBe(join(dir.file("not-yet"), "pool.json"));
    } finally {
      await dir.remove();
    }
  });

  it("takes a path ending in .json, or an existing file, as the pool file", async () => {
    const dir = await createTempDir("credpool-pool-option-");
    try {
      await writeFile(dir.file("exported"), "{}");
      expect(await resolvePoolOption(dir.file("work.json"), {})).toBe(dir.file("work.json"));
      expect(await resolvePoolOption(dir.file("exported"), {})).toBe(dir.file("exported"));
    } finally {
      await dir.remove();
    }
  });

  it("falls back to the default location without one", async () => {
    expect(await resolvePoolOption(undefined, { CREDPOOL_HOME: "/srv/credpool" })).toBe("/srv/credpool/pool.json");
  });
});
