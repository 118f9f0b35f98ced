// Factory options: a misspelt or misplaced option is E_INVALID_OPTIONS naming it (with the option that was probably
// meant), before any I/O, and a bad value never escapes as a raw ZodError.
import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ZodError } from "zod";
import {
  PoolError,
  beginTotpSetup,
  createFileBackend,
  createRefresher,
  createTotpGate,
  openPool,
  parseOptions,
  type Pool,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { z } from "zod";

async function failureOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectInvalidOptions(error: unknown, message: string | RegExp): void {
  expect(error).toBeInstanceOf(PoolError);
  expect((error as PoolError).code).toBe("E_INVALID_OPTIONS");
  expect((error as PoolError).message).toMatch(message);
}

describe("factory options", () => {
  let dir: TempDir;
  let savedHome: string | undefined;
  beforeEach(async () => {
    dir = await createTempDir();
    savedHome = process.env.CREDPOOL_HOME;
    // Where a pool opened with no path would go: it must stay untouched.
    process.env.CREDPOOL_HOME = dir.file("default-home");
  });
  afterEach(async () => {
    if (savedHome === undefined) delete process.env.CREDPOOL_HOME;
    else process.env.CREDPOOL_HOME = savedHome;
    await dir.remove();
  });

  it("refuses openPool({ path }) before any I/O and points to file.path, instead of opening the default pool", async () => {
    let opened: Pool | undefined;
    const error = await failureOf(async () => {
      opened = await openPool({ path: dir.file("mine/pool.json") } as never);
    });
    await opened?.close();
    expectInvalidOptions(error, "Invalid pool options: unknown option `path`; did you mean `file.path`?");
    expect((error as PoolError).details).toEqual({ unknownOptions: ["path"] });
    expect(existsSync(dir.file("default-home"))).toBe(false);
    expect(existsSync(dir.file("mine"))).toBe(false);
  });

  it("names a misspelt option at any depth with the nearest known one", async () => {
    expectInvalidOptions(
      await failureOf(() => openPool({ file: { path: dir.file("pool.json"), lockTimeout: 5 } } as never)),
      "unknown option `file.lockTimeout`; did you mean `file.lockTimeoutMs`?",
    );
    expectInvalidOptions(
      await failureOf(() => createFileBackend({ pth: dir.file("pool.json") } as never)),
      "unknown option `pth`; did you mean `path`?",
    );
    expectInvalidOptions(
      await failureOf(() => createRefresher({ timeoutMS: 5000 } as never)),
      "unknown option `timeoutMS`; did you mean `timeoutMs`?",
    );
    expectInvalidOptions(
      await failureOf(() =>
        createRefresher({ providers: { "custom:idp": { tokenURL: "https://idp.example/token" } } } as never),
      ),
      "unknown option `providers.custom:idp.tokenURL`; did you mean `providers.custom:idp.tokenUrl`?",
    );
    expectInvalidOptions(
      await failureOf(() => createTotpGate({ home: dir.path, config: { lockoutAtempts: 5 } as never })),
      "unknown option `config.lockoutAtempts`; did you mean `config.lockoutAttempts`?",
    );
    // The old name of `providers` is not an option: nothing near it, so no guess.
    expectInvalidOptions(
      await failureOf(() => createRefresher({ adapters: {} } as never)),
      /unknown option `adapters`$/,
    );
    expect(existsSync(dir.file("pool.json"))).toBe(false);
  });

  it("wraps an invalid value as E_INVALID_OPTIONS naming the field, with the ZodError as cause, never raw", async () => {
    const health = await failureOf(() =>
      openPool({ file: { path: dir.file("pool.json") }, health: { billingMs: -1 } }),
    );
    expectInvalidOptions(health, /health\.billingMs/);
    expect((health as PoolError).cause).toBeInstanceOf(ZodError);

    const totp = await failureOf(() =>
      beginTotpSetup({ home: dir.path, label: "alice", config: { lockoutAttempts: 0 } }),
    );
    expectInvalidOptions(totp, /config\.lockoutAttempts/);
    expect((totp as PoolError).cause).toBeInstanceOf(ZodError);
    expect(existsSync(dir.file("totp.secret.pending"))).toBe(false);
  });

  it("parseOptions returns the parsed value, defaults applied", () => {
    const schema = z.object({ retries: z.number().int().default(3), nested: z.object({ on: z.boolean() }).optional() });
    expect(parseOptions(schema, { nested: { on: true } }, "test options")).toEqual({
      retries: 3,
      nested: { on: true },
    });
    expectInvalidOptions(
      (() => {
        try {
          parseOptions(schema, { retires: 1 }, "test options");
        } catch (error) {
          return error;
        }
      })(),
      "Invalid test options: unknown option `retires`; did you mean `retries`?",
    );
  });
});
