// Token limits and delegation, in process: a child's limits are never wider than its parent's, and a token is
// accepted only while every token up its chain exists and has not expired, whatever the file says about the child.
import { readFile, writeFile } from "node:fs/promises";
import { isPoolError } from "@credpool/pool-core";
import { createTokenStore, modelMatches, narrowLimits, type TokenLimits } from "@credpool/pool-gateway";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";

function refusal(run: () => unknown): { code: string; field: unknown; message: string } {
  try {
    run();
  } catch (error) {
    if (isPoolError(error)) return { code: error.code, field: error.details?.field, message: error.message };
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("narrowLimits", () => {
  const parent: TokenLimits = {
    providers: ["anthropic", "openai"],
    models: ["claude-*", "gpt-4o"],
    maxConcurrent: 4,
    rpm: 60,
    maxWaitMs: 10_000,
  };

  it("gives a child what it asked for where that is within the parent's, and the parent's limits elsewhere", () => {
    expect(narrowLimits(parent, { providers: ["anthropic"], models: ["claude-sonnet-*"], maxConcurrent: 1 })).toEqual({
      providers: ["anthropic"],
      models: ["claude-sonnet-*"],
      maxConcurrent: 1,
      rpm: 60,
      maxWaitMs: 10_000,
    });
    expect(narrowLimits(undefined, { rpm: 5 })).toEqual({ rpm: 5 });
    expect(narrowLimits(undefined, {})).toEqual({});
  });

  it("refuses each wider request with E_FORBIDDEN naming the field", () => {
    const cases: Array<[TokenLimits, string]> = [
      [{ providers: ["anthropic", "openrouter"] }, "providers"],
      [{ models: ["gpt-*"] }, "models"],
      [{ models: ["*"] }, "models"],
      [{ models: ["claude-*-x", "gpt-4o-mini"] }, "models"],
      [{ maxConcurrent: 5 }, "maxConcurrent"],
      [{ rpm: 61 }, "rpm"],
      [{ maxWaitMs: 10_001 }, "maxWaitMs"],
    ];
    for (const [requested, field] of cases) {
      const refused = refusal(() => narrowLimits(parent, requested));
      expect(refused.code).toBe("E_FORBIDDEN");
      expect(refused.field).toBe(field);
      expect(refused.message.startsWith(`${field}:`)).toBe(true);
    }
  });

  it("matches exact model names and globs", () => {
    expect(modelMatches("claude-sonnet-*", "claude-sonnet-4-5")).toBe(true);
    expect(modelMatches("claude-sonnet-*", "claude-opus-4")).toBe(false);
    expect(modelMatches("gpt-4o", "gpt-4o-mini")).toBe(false);
    expect(modelMatches("*-mini", "gpt-4o-mini")).toBe(true);
    // Dots are literal, not "any character".
    expect(modelMatches("gpt-4.1", "gpt-401")).toBe(false);
  });
});

describe("token chains at verification time", () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.remove();
    dir = undefined;
  });

  /** Rewrites the token file by hand (a newer rev, so a following store picks it up). */
  async function editFile(path: string, edit: (tokens: Array<Record<string, unknown>>) => void): Promise<void> {
    const doc = JSON.parse(await readFile(path, "utf8")) as { rev: number; tokens: Array<Record<string, unknown>> };
    edit(doc.tokens);
    doc.rev += 1;
    await writeFile(path, JSON.stringify(doc));
  }

  it("refuses a child whose parent is gone or expired, though the child's own record is intact", async () => {
    dir = await createTempDir("credpool-token-chain-");
    const store = createTokenStore({ dir: dir.path });
    const parent = await store.create("planner", "delegate", { limits: { providers: ["anthropic"] } });
    const child = await store.create("helper", "delegate", { parent: "planner", ttlMs: 3_600_000 });
    const grandchild = await store.create("worker", "proxy", { parent: "helper" });
    await store.close();
    expect(child.client).toMatchObject({ parentId: parent.client.id, limits: { providers: ["anthropic"] } });

    const check = async (): Promise<Array<string | undefined>> => {
      const reader = createTokenStore({ dir: dir!.path });
      await reader.open();
      try {
        return [parent.token, child.token, grandchild.token].map((token) => reader.verify(token)?.name);
      } finally {
        await reader.close();
      }
    };
    expect(await check()).toEqual(["planner", "helper", "worker"]);
    // The parent expired: its whole family is refused, though their own expiry is an hour away.
    await editFile(store.path, (tokens) => {
      tokens[0]!.expiresAt = Date.now() - 1000;
    });
    expect(await check()).toEqual([undefined, undefined, undefined]);
    // The parent's record removed by hand, without touching its children: they are refused all the same.
    await editFile(store.path, (tokens) => {
      tokens.splice(0, 1);
    });
    expect(await check()).toEqual([undefined, undefined, undefined]);
  });

  it("a child verifies with its ancestors attached, so their limits bound its requests", async () => {
    dir = await createTempDir("credpool-token-chain-");
    const store = createTokenStore({ dir: dir.path });
    await store.create("planner", "delegate", { limits: { rpm: 10 } });
    await store.create("helper", "delegate", { parent: "planner" });
    const worker = await store.create("worker", "proxy", { parent: "helper", limits: { rpm: 5 } });
    await store.open();
    const verified = store.verify(worker.token);
    await store.close();
    expect(verified?.limits).toEqual({ rpm: 5 });
    expect(verified?.ancestors?.map((one) => one.name)).toEqual(["helper", "planner"]);
  });
});
