// Issue 13, 6b through the pool: what each provider's failure does to a credential once reported.
import { afterEach, describe, expect, it } from "vitest";
import { openPool, type Pool } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

let dir: TempDir | undefined;
let pool: Pool | undefined;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
  await dir?.remove();
  dir = undefined;
});

async function poolWith(provider: string, labels: string[]): Promise<Pool> {
  dir = await createTempDir();
  pool = await openPool({ file: { path: dir.file("pool.json") }, now: () => NOW, usageFlushMs: 60_000 });
  for (const label of labels) await pool.add({ provider, label, secrets: { apiKey: `fake-key-${label}` } });
  return pool;
}

describe("reported failures, classified beyond the status code", () => {
  it("benches only the model when OpenRouter relays an upstream provider's 429 ('Provider returned error')", async () => {
    const p = await poolWith("openrouter", ["a", "b"]);
    const message = JSON.stringify({
      error: {
        message: "Provider returned error",
        code: 429,
        metadata: { raw: "deepseek/deepseek-r1:free is temporarily rate-limited upstream.", provider_name: "Chutes" },
      },
    });
    await p.report("a", { error: { status: 429, model: "deepseek/deepseek-r1:free", message } });
    const a = p.resolve("a");
    expect(a.status.state).toBe("ok");
    expect(a.modelCooldowns).toEqual([
      expect.objectContaining({ model: "deepseek/deepseek-r1:free", until: NOW + MINUTE }),
    ]);
    expect(p.select("openrouter", { model: "openai/gpt-4o" }).label).toBe("a");
  });

  it("leaves a key alone after a 429 that says the service is overloaded (Z.AI's wording)", async () => {
    const p = await poolWith("openrouter", ["a", "b"]);
    await p.report("a", {
      error: { status: 429, message: "The service may be temporarily overloaded, please try again later" },
    });
    expect(p.resolve("a").status).toMatchObject({ state: "ok" });
    expect(p.resolve("a").modelCooldowns).toBeUndefined();
  });

  it("leaves an Anthropic key alone after the long-context 429, which is the request's fault", async () => {
    const p = await poolWith("anthropic", ["a", "b"]);
    const message = JSON.stringify({
      type: "error",
      error: {
        type: "rate_limit_error",
        message: "Extra usage is required for long context requests over 200k tokens",
      },
    });
    await p.report("a", { error: { status: 429, model: "claude-sonnet-4", message } });
    expect(p.resolve("a").status).toMatchObject({ state: "ok" });
    expect(p.resolve("a").modelCooldowns).toBeUndefined();
  });

  it("benches the whole credential for billing when a Nous-style 404 says the model needs credits", async () => {
    const p = await poolWith("openrouter", ["a", "b"]);
    const message = JSON.stringify({ status: 404, message: "Model 'openai/gpt-5.5-pro' requires available credits." });
    await p.report("a", { error: { status: 404, model: "openai/gpt-5.5-pro", message } });
    expect(p.resolve("a").status).toMatchObject({ state: "exhausted", reason: "billing", until: NOW + 24 * HOUR });
  });
});
