// The pool in one process: targets, add validation, the four strategies, health as seen through leases, reset
// against a stale report, E_NO_CREDENTIAL, self-clearing cooldowns, batched usage and dead credentials.
// The clock is injected, so every cooldown here is exact and nothing waits for real time.
import { afterEach, describe, expect, it } from "vitest";
import {
  PoolError,
  createFileBackend,
  isPoolError,
  openPool,
  type AddCredentialInput,
  type Credential,
  type Pool,
  type PoolDocument,
  type PoolOptions,
  type Strategy,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;

let dir: TempDir | undefined;
let pool: Pool | undefined;
let clock = NOW;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
  await dir?.remove();
  dir = undefined;
});

async function openTestPool(options: Partial<PoolOptions> = {}): Promise<Pool> {
  dir ??= await createTempDir();
  clock = NOW;
  // A long flush interval: counters reach the disk only when the test asks (flush, close or a failure).
  pool = await openPool({ file: { path: dir.file("pool.json") }, now: () => clock, usageFlushMs: 60_000, ...options });
  return pool;
}

async function readDisk(): Promise<PoolDocument> {
  const backend = createFileBackend({ path: dir!.file("pool.json") });
  try {
    return (await backend.read()).doc;
  } finally {
    await backend.close();
  }
}

function key(label: string, extra: Partial<AddCredentialInput> = {}): AddCredentialInput {
  return { provider: "anthropic", label, secrets: { apiKey: `fake-key-${label}` }, ...extra };
}

async function addKeys(p: Pool, labels: string[], extra: Partial<AddCredentialInput> = {}): Promise<Credential[]> {
  const added: Credential[] = [];
  for (const label of labels) added.push(await p.add(key(label, extra)));
  return added;
}

async function caught(promise: Promise<unknown> | (() => unknown)): Promise<PoolError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (isPoolError(error)) return error;
    throw error;
  }
  throw new Error("expected a PoolError, but the call succeeded");
}

/** Takes `count` leases one after another, releasing each with `ok`; returns the labels chosen. */
async function leaseLabels(p: Pool, count: number, provider = "anthropic", model?: string): Promise<string[]> {
  const labels: string[] = [];
  for (let i = 0; i < count; i++) {
    const lease = await p.lease(provider, model === undefined ? {} : { model });
    labels.push(lease.label);
    await lease.release("ok");
  }
  return labels;
}

function tally(labels: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

describe("targets", () => {
  it("resolves an id, a label in any case, and provider#N in selection order", async () => {
    const p = await openTestPool();
    const [work, personal] = await addKeys(p, ["work", "Personal"]);
    const other = await p.add({ provider: "openrouter", label: "Work", secrets: { apiKey: "fake-or" } });
    await p.setPriority(personal!.id, -1);

    expect(p.resolve(work!.id).id).toBe(work!.id);
    expect(p.resolve("personal").id).toBe(personal!.id);
    expect(p.resolve("PERSONAL").id).toBe(personal!.id);
    expect(p.resolve("anthropic#1").id).toBe(personal!.id);
    expect(p.resolve("anthropic#2").id).toBe(work!.id);
    expect(p.resolve("openrouter#1").id).toBe(other.id);
  });

  it("rejects an ambiguous label with E_AMBIGUOUS listing every candidate", async () => {
    const p = await openTestPool();
    const [work] = await addKeys(p, ["work"]);
    const other = await p.add({ provider: "openrouter", label: "WORK", secrets: { apiKey: "fake-or" } });
    const error = await caught(() => p.resolve("work"));
    expect(error.code).toBe("E_AMBIGUOUS");
    expect(error.details?.candidates).toEqual(expect.arrayContaining([work!.id, other.id]));
    expect(error.message).toContain(work!.id);
    expect(error.message).toContain(other.id);
    expect(error.message).toContain("anthropic/work");
    expect(error.message).toContain("openrouter/WORK");
  });

  it("rejects a missing target with E_NOT_FOUND, and mutations by target name the same error", async () => {
    const p = await openTestPool();
    await addKeys(p, ["work"]);
    for (const target of ["nope", "anthropic#2", "anthropic#0", "openai#1"]) {
      expect((await caught(() => p.resolve(target))).code).toBe("E_NOT_FOUND");
    }
    expect((await caught(p.remove("nope"))).code).toBe("E_NOT_FOUND");
    expect((await caught(p.setPriority("nope", 3))).code).toBe("E_NOT_FOUND");
    expect((await caught(p.reset("anthropic", "nope"))).code).toBe("E_NOT_FOUND");
  });

  it("removes the targeted credential and only that one", async () => {
    const p = await openTestPool();
    const [, b] = await addKeys(p, ["a", "b"]);
    await p.remove("anthropic#1");
    expect(p.list("anthropic").map((view) => view.credential.id)).toEqual([b!.id]);
    expect((await readDisk()).providers.anthropic?.credentials.map((c) => c.id)).toEqual([b!.id]);
  });
});

describe("add", () => {
  it("fills in defaults: label, rising priority, kind from the secret, ok status, zero usage", async () => {
    const p = await openTestPool();
    const first = await p.add({ provider: "openrouter", secrets: { apiKey: "fake-1" } });
    const second = await p.add({
      provider: "openrouter",
      secrets: { accessToken: "fake-at", refreshToken: "fake-rt" },
    });
    expect(first).toMatchObject({
      label: "openrouter-1",
      priority: 0,
      kind: "api_key",
      source: "manual",
      tokenGeneration: 0,
    });
    expect(first.status).toEqual({ state: "ok" });
    expect(first.usage).toEqual({ requests: 0, failures: 0 });
    expect(second).toMatchObject({ label: "openrouter-2", priority: 1, kind: "oauth" });
    expect(first.id).not.toBe(second.id);
    expect((await readDisk()).providers.openrouter?.credentials).toHaveLength(2);
  });

  it.each<[string, AddCredentialInput]>([
    ["a provider name with capitals and symbols", { provider: "Anthropic!", secrets: { apiKey: "k" } }],
    ["a label with a space", { provider: "anthropic", label: "my key", secrets: { apiKey: "k" } }],
    ["a label with #", { provider: "anthropic", label: "key#2", secrets: { apiKey: "k" } }],
    ["an api_key credential without a key", { provider: "anthropic", kind: "api_key", secrets: { accessToken: "t" } }],
    ["an oauth credential without tokens", { provider: "anthropic", kind: "oauth", secrets: {} }],
    ["an empty api key", { provider: "anthropic", secrets: { apiKey: "" } }],
    ["a custom provider without a base URL", { provider: "custom:local", secrets: { apiKey: "k" } }],
    ["a non-http base URL", { provider: "custom:local", baseUrl: "ftp://example.test", secrets: { apiKey: "k" } }],
    ["a fractional priority", { provider: "anthropic", priority: 1.5, secrets: { apiKey: "k" } }],
    ["maxConcurrent 0", { provider: "anthropic", maxConcurrent: 0, secrets: { apiKey: "k" } }],
  ])("rejects %s with E_INVALID_INPUT and writes nothing", async (_case, input) => {
    const p = await openTestPool();
    await addKeys(p, ["existing"]);
    const rev = (await readDisk()).rev;
    expect((await caught(p.add(input))).code).toBe("E_INVALID_INPUT");
    expect((await readDisk()).rev).toBe(rev);
  });

  it("rejects a label already used within the provider, whatever its case, with E_CONFLICT", async () => {
    const p = await openTestPool();
    await addKeys(p, ["work"]);
    expect((await caught(p.add(key("WORK")))).code).toBe("E_CONFLICT");
    // Labels are unique per provider only.
    await expect(p.add({ provider: "openrouter", label: "work", secrets: { apiKey: "k" } })).resolves.toBeDefined();
    expect(p.list("anthropic")).toHaveLength(1);
  });

  it("accepts a custom provider with a base URL and an unknown provider name", async () => {
    const p = await openTestPool();
    const custom = await p.add({
      provider: "custom:local",
      baseUrl: "http://127.0.0.1:8080/v1",
      secrets: { apiKey: "k" },
    });
    expect(custom).toMatchObject({ label: "local-1", baseUrl: "http://127.0.0.1:8080/v1" });
    const lease = await p.lease("custom:local");
    expect(lease.baseUrl).toBe("http://127.0.0.1:8080/v1");
    await lease.release();
    await expect(p.add({ provider: "mistral", secrets: { apiKey: "k" } })).resolves.toMatchObject({
      provider: "mistral",
    });
  });
});

describe("strategies in one process", () => {
  async function poolWith(strategy: Strategy, labels = ["a", "b", "c", "d"]): Promise<Pool> {
    const p = await openTestPool();
    await addKeys(p, labels);
    await p.setStrategy("anthropic", strategy);
    return p;
  }

  it("fill_first always takes the available credential with the lowest priority", async () => {
    const p = await poolWith("fill_first");
    await p.setPriority("c", -5);
    expect(await leaseLabels(p, 5)).toEqual(["c", "c", "c", "c", "c"]);
    await p.report("c", { error: { status: 429 } });
    expect(await leaseLabels(p, 2)).toEqual(["a", "a"]);
  });

  it("never selects a disabled credential, whatever its priority, until it is enabled again", async () => {
    const p = await poolWith("fill_first");
    await p.setPriority("c", -5);
    await p.setDisabled("c", true);
    expect(await leaseLabels(p, 3)).toEqual(["a", "a", "a"]);
    expect(p.list("anthropic").find((view) => view.credential.label === "c")?.unavailable).toEqual({
      kind: "disabled",
    });
    await p.setDisabled("c", false);
    expect(await leaseLabels(p, 2)).toEqual(["c", "c"]);
    expect((await readDisk()).providers.anthropic?.credentials.some((c) => "disabled" in c)).toBe(false);
  });

  it("round_robin rotates in priority order and skips an unavailable credential", async () => {
    const p = await poolWith("round_robin");
    expect(await leaseLabels(p, 8)).toEqual(["a", "b", "c", "d", "a", "b", "c", "d"]);
    await p.report("b", { error: { status: 503 } });
    expect(await leaseLabels(p, 6)).toEqual(["a", "c", "d", "a", "c", "d"]);
  });

  it("least_used picks the credential with the fewest requests, counting unflushed usage", async () => {
    const p = await poolWith("least_used");
    await p.update((doc) => {
      const counts: Record<string, number> = { a: 6, b: 0, c: 3, d: 1 };
      for (const credential of doc.providers.anthropic!.credentials)
        credential.usage.requests = counts[credential.label]!;
    });
    // 10 requests on top of 6/0/3/1: b catches up with d, then with c, and the three rise together below a.
    const picks = await leaseLabels(p, 10);
    expect(picks).toEqual(["b", "b", "d", "b", "d", "b", "c", "d", "b", "c"]);
    await p.flush();
    expect(p.list("anthropic").map((view) => view.credential.usage.requests)).toEqual([6, 5, 5, 4]);
  });

  it("random spreads uniformly over the available credentials only", async () => {
    const p = await poolWith("random", ["a", "b", "c", "d", "benched"]);
    await p.report("benched", { error: { status: 401 } });
    const counts = tally(await leaseLabels(p, 400));
    expect(Object.keys(counts).sort()).toEqual(["a", "b", "c", "d"]);
    // Binomial(400, 1/4): mean 100, sd 8.7. These bounds are more than 5 sd out.
    for (const count of Object.values(counts)) expect(count).toBeGreaterThan(55);
    for (const count of Object.values(counts)) expect(count).toBeLessThan(145);
  });

  it("rejects an unknown strategy with E_INVALID_INPUT", async () => {
    const p = await poolWith("fill_first");
    expect((await caught(p.setStrategy("anthropic", "fastest" as Strategy))).code).toBe("E_INVALID_INPUT");
    expect((await readDisk()).providers.anthropic?.strategy).toBe("fill_first");
  });
});

describe("prefer (the proxy's session affinity)", () => {
  async function preferred(p: Pool, label: string, options: { model?: string; exclude?: string[] } = {}) {
    const lease = await p.lease("anthropic", { ...options, prefer: p.resolve(label).id });
    await lease.release();
    return lease.label;
  }

  it("takes the preferred credential without moving the round-robin cursor", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b", "c"]);
    await p.setStrategy("anthropic", "round_robin");
    expect(await leaseLabels(p, 1)).toEqual(["a"]);
    expect([await preferred(p, "c"), await preferred(p, "c")]).toEqual(["c", "c"]);
    expect(await leaseLabels(p, 3)).toEqual(["b", "c", "a"]);
  });

  it("is ignored for a credential that is benched, benched for the model, dead, excluded or at its cap", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b", "c", "d"]);
    await addKeys(p, ["capped"], { maxConcurrent: 1 });
    expect(await preferred(p, "b")).toBe("b");
    await p.report("b", { error: { status: 429 } });
    expect(await preferred(p, "b")).toBe("a");
    await p.report("c", { error: { status: 429, model: "opus" } });
    expect(await preferred(p, "c", { model: "opus" })).toBe("a");
    expect(await preferred(p, "c", { model: "sonnet" })).toBe("c");
    await p.report("d", { error: { status: 401, message: '{"error":{"type":"invalid_api_key"}}' } });
    expect(p.resolve("d").status.state).toBe("dead");
    expect(await preferred(p, "d")).toBe("a");
    expect(await preferred(p, "capped", { exclude: [p.resolve("capped").id] })).toBe("a");
    expect(await preferred(p, "capped")).toBe("capped");
    const held = await p.lease("anthropic", { prefer: p.resolve("capped").id });
    expect(held.label).toBe("capped");
    expect(await preferred(p, "capped")).toBe("a");
    await held.release();
    expect(await preferred(p, "capped")).toBe("capped");
  });
});

describe("health through leases", () => {
  it("benches a credential for the class default and records the failure", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    const lease = await p.lease("anthropic");
    expect(lease.label).toBe("a");
    await lease.release({ error: { status: 401, message: "invalid x-api-key" } });
    const a = p.resolve("a");
    expect(a.status).toMatchObject({
      state: "exhausted",
      reason: "unauthorized",
      httpStatus: 401,
      until: NOW + 5 * MINUTE,
    });
    expect(a.usage).toMatchObject({ requests: 1, failures: 1 });
    // Committed at once, so every other process stops using it.
    expect((await readDisk()).providers.anthropic?.credentials[0]?.status.state).toBe("exhausted");
    expect(p.select("anthropic").label).toBe("b");
  });

  it("benches only the named model on a 429 that names one: the credential still serves other models", async () => {
    const p = await openTestPool();
    await addKeys(p, ["solo"]);
    const lease = await p.lease("anthropic", { model: "claude-opus-4" });
    await lease.release({ error: { status: 429, model: "claude-opus-4", headers: { "retry-after": "120" } } });

    const solo = p.resolve("solo");
    expect(solo.status.state).toBe("ok");
    expect(solo.modelCooldowns).toEqual([
      expect.objectContaining({ model: "claude-opus-4", until: NOW + 120 * SECOND }),
    ]);
    const error = await caught(p.lease("anthropic", { model: "claude-opus-4" }));
    expect(error.code).toBe("E_NO_CREDENTIAL");
    expect(error.retryAfterMs).toBe(120 * SECOND);
    expect(p.select("anthropic", { model: "claude-sonnet-4" }).label).toBe("solo");
    expect(p.select("anthropic").label).toBe("solo");
    const other = await p.lease("anthropic", { model: "claude-sonnet-4" });
    expect(other.label).toBe("solo");
    await other.release();

    clock = NOW + 120 * SECOND;
    expect(p.select("anthropic", { model: "claude-opus-4" }).label).toBe("solo");
  });

  it("benches the whole credential for 24 h on a billing 429, even one that names a model", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("a", {
      error: { status: 429, model: "gpt-5", message: "You exceeded your current quota", reason: "insufficient_quota" },
    });
    expect(p.resolve("a").status).toMatchObject({
      state: "exhausted",
      reason: "billing",
      until: NOW + 24 * 60 * MINUTE,
    });
    expect(p.resolve("a").modelCooldowns).toBeUndefined();
    expect(p.select("anthropic", { model: "gpt-5-mini" }).label).toBe("b");
  });

  it("a 429 for one model leaves the other credential first in line for that model only", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("a", { error: { status: 429, model: "opus" } });
    expect(p.select("anthropic", { model: "opus" }).label).toBe("b");
    expect(p.select("anthropic", { model: "sonnet" }).label).toBe("a");
  });

  it("dead credentials are never selected, by any strategy, and say why", async () => {
    const p = await openTestPool();
    await addKeys(p, ["dead", "b", "c"]);
    await p.report("dead", { error: { status: 401, message: '{"error":{"type":"invalid_api_key"}}' } });
    expect(p.resolve("dead").status).toMatchObject({ state: "dead", reason: "invalid_api_key" });
    // The dead one has the lowest priority and the fewest requests, so each strategy would otherwise prefer it.
    await p.update((doc) => {
      for (const credential of doc.providers.anthropic!.credentials)
        credential.usage.requests = credential.label === "dead" ? 0 : 50;
    });
    for (const strategy of ["fill_first", "round_robin", "least_used", "random"] as const) {
      await p.setStrategy("anthropic", strategy);
      expect(await leaseLabels(p, 12)).not.toContain("dead");
    }
    // Dead does not lapse with time either.
    clock = NOW + 365 * 24 * 60 * MINUTE;
    expect(await leaseLabels(p, 6)).not.toContain("dead");
    await p.remove("b");
    await p.remove("c");
    const error = await caught(p.lease("anthropic"));
    expect(error.code).toBe("E_NO_CREDENTIAL");
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.message).toContain("dead: invalid_api_key");
  });

  it("expired cooldowns clear by themselves, with no write", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("a", { error: { status: 503 } });
    const rev = (await readDisk()).rev;
    expect(p.select("anthropic").label).toBe("b");
    expect(p.list("anthropic")[0]).toMatchObject({ available: false });

    clock = NOW + MINUTE - 1;
    expect(p.select("anthropic").label).toBe("b");
    clock = NOW + MINUTE;
    expect(p.select("anthropic").label).toBe("a");
    expect(p.list("anthropic")[0]).toMatchObject({ available: true });
    const lease = await p.lease("anthropic");
    expect(lease.label).toBe("a");
    expect((await readDisk()).rev).toBe(rev);
    expect(p.doc.rev).toBe(rev);
    expect(p.resolve("a").status.state).toBe("exhausted");
    await lease.release();
  });

  it("a success after the window closed resets the 429 ladder; another 429 without one escalates", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    const untilAfter429 = async (): Promise<number> => {
      await p.report("a", { error: { status: 429 } });
      return (p.resolve("a").status.until ?? NaN) - clock;
    };
    expect(await untilAfter429()).toBe(MINUTE);
    clock += MINUTE;
    expect(await untilAfter429()).toBe(2 * MINUTE);
    clock += 2 * MINUTE;
    await p.report("a", "ok");
    expect(p.resolve("a").status.state).toBe("ok");
    expect(await untilAfter429()).toBe(MINUTE);
  });

  it("caps a model's 429 at 60 s when no other credential can serve that model, though others serve the rest", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("b", { error: { status: 429, model: "opus", headers: { "retry-after": "3600" } } });
    const modelCooldown = async (model: string): Promise<number> => {
      await p.report("a", { error: { status: 429, model } });
      return (p.resolve("a").modelCooldowns?.find((entry) => entry.model === model)?.until ?? NaN) - clock;
    };
    expect(await modelCooldown("opus")).toBe(MINUTE);
    expect(await modelCooldown("sonnet")).toBe(MINUTE);
    clock += MINUTE;
    // b still serves sonnet, so a's sonnet ladder climbs; for opus, a is all there is.
    expect(await modelCooldown("sonnet")).toBe(2 * MINUTE);
    expect(await modelCooldown("opus")).toBe(MINUTE);
  });

  it("keeps a model's 429 ladder while another model's 429s come and go", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    const modelCooldown = async (model: string): Promise<number> => {
      await p.report("a", { error: { status: 429, model } });
      return (p.resolve("a").modelCooldowns?.find((entry) => entry.model === model)?.until ?? NaN) - clock;
    };
    expect(await modelCooldown("opus")).toBe(MINUTE);
    clock += MINUTE;
    // Opus's window has closed; a sonnet 429 now must not forget that opus already has one strike.
    expect(await modelCooldown("sonnet")).toBe(MINUTE);
    expect(await modelCooldown("opus")).toBe(2 * MINUTE);
  });

  it("a success on a model after its window closed resets that model's 429 ladder", async () => {
    const p = await openTestPool();
    // Two credentials, so the sole-credential 60 s cap does not hide the ladder.
    await addKeys(p, ["a", "b"]);
    const modelCooldown = async (): Promise<number> => {
      const lease = await p.lease("anthropic", { model: "opus" });
      await lease.release({ error: { status: 429, model: "opus" } });
      const status = p.resolve("a").modelCooldowns?.find((entry) => entry.model === "opus");
      return (status?.until ?? NaN) - clock;
    };
    expect(await modelCooldown()).toBe(MINUTE);
    clock += MINUTE;
    expect(await modelCooldown()).toBe(2 * MINUTE);
    clock += 2 * MINUTE;
    const ok = await p.lease("anthropic", { model: "opus" });
    expect(ok.label).toBe("a");
    await ok.release("ok");
    await p.flush();
    expect(await modelCooldown()).toBe(MINUTE);
  });
});

describe("reset", () => {
  it("clears a cooldown and stamps statusClearedAt", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("a", { error: { status: 402 } });
    clock = NOW + 10 * SECOND;
    const [a] = await p.reset("anthropic", "a");
    expect(a).toMatchObject({ status: { state: "ok" }, statusClearedAt: NOW + 10 * SECOND });
    expect(p.resolve("b").statusClearedAt).toBeUndefined();
    expect((await readDisk()).providers.anthropic?.credentials[0]?.status.state).toBe("ok");
  });

  it("is not undone by a failure report from a lease that began before the reset", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    const stale = await p.lease("anthropic");
    expect(stale.label).toBe("a");
    await p.report("a", { error: { status: 429 } });
    clock = NOW + 5 * SECOND;
    await p.reset("anthropic", "a");

    clock = NOW + 10 * SECOND;
    await stale.release({ error: { status: 429, headers: { "retry-after": "600" } } });
    expect(p.resolve("a").status.state).toBe("ok");
    expect((await readDisk()).providers.anthropic?.credentials[0]?.status.state).toBe("ok");
    expect(p.select("anthropic").label).toBe("a");

    // A lease that began after the reset does count.
    const fresh = await p.lease("anthropic");
    expect(fresh.label).toBe("a");
    await fresh.release({ error: { status: 429 } });
    expect(p.resolve("a").status.state).toBe("exhausted");
  });

  it("is not undone by a stale failure released by lease id, from another pool handle", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a"], { maxConcurrent: 2 });
    const stale = await p.lease("anthropic", { persist: true });
    clock = NOW + SECOND;
    await p.reset("anthropic");
    const other = await openPool({ file: { path: dir!.file("pool.json") }, now: () => clock });
    try {
      await other.releaseLease(stale.id, { error: { status: 503 } });
    } finally {
      await other.close();
    }
    expect((await readDisk()).providers.anthropic?.credentials[0]?.status.state).toBe("ok");
  });

  it("resets every credential of a provider, dead ones included", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    const other = await p.add({ provider: "openrouter", secrets: { apiKey: "k" } });
    await p.report("a", { error: { status: 429 } });
    await p.report("b", { error: { status: 400, reason: "invalid_grant" } });
    await p.report(other.id, { error: { status: 429 } });
    const touched = await p.reset("anthropic");
    expect(touched.map((credential) => credential.label).sort()).toEqual(["a", "b"]);
    expect(p.list("anthropic").every((view) => view.available)).toBe(true);
    expect(p.resolve(other.id).status.state).toBe("exhausted");
  });
});

describe("E_NO_CREDENTIAL", () => {
  it("carries the earliest recovery as retryAfterMs and a reason per credential", async () => {
    const p = await openTestPool();
    const [a, b, c] = await addKeys(p, ["a", "b", "c"]);
    await p.report("a", { error: { status: 401 } }); // 5 min
    await p.report("b", { error: { status: 429, headers: { "retry-after": "90" } } }); // 90 s
    await p.report("c", { error: { status: 400, reason: "refresh_token_reused" } }); // dead

    clock = NOW + 30 * SECOND;
    const error = await caught(p.lease("anthropic"));
    expect(error.code).toBe("E_NO_CREDENTIAL");
    expect(error.retryAfterMs).toBe(60 * SECOND);
    expect(error.details?.credentials).toEqual([
      { id: a!.id, label: "a", until: NOW + 5 * MINUTE, reason: "exhausted (unauthorized) for 270s" },
      { id: b!.id, label: "b", until: NOW + 90 * SECOND, reason: "exhausted (rate_limit) for 60s" },
      { id: c!.id, label: "c", until: undefined, reason: "dead: refresh_token_reused" },
    ]);
    expect(error.message).toMatch(/next one frees up in 60s/);
    expect((await caught(() => p.select("anthropic"))).retryAfterMs).toBe(60 * SECOND);

    clock = NOW + 90 * SECOND;
    expect(p.select("anthropic").label).toBe("b");
  });

  it("counts a per-model cooldown only for that model, and capacity as a reason", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a"], { maxConcurrent: 1 });
    await p.report("a", { error: { status: 429, model: "opus", headers: { "retry-after-ms": "2500" } } });
    expect((await caught(p.lease("anthropic", { model: "opus" }))).retryAfterMs).toBe(2500);
    const held = await p.lease("anthropic", { ttlMs: 40 * SECOND });
    const error = await caught(p.lease("anthropic"));
    expect(error.code).toBe("E_NO_CREDENTIAL");
    // The holder may release at any moment, long before its 40 s TTL: retry soon.
    expect(error.retryAfterMs).toBe(SECOND);
    expect(error.message).toContain("at capacity (1/1 leases)");
    expect(error.message).toContain("every lease is taken; retry in 1s");
    await held.release();
    // A lease that lapses sooner than that sets the hint.
    const brief = await p.lease("anthropic", { ttlMs: 300 });
    expect((await caught(p.lease("anthropic"))).retryAfterMs).toBe(300);
    await brief.release();
    await expect(p.lease("anthropic")).resolves.toMatchObject({ label: "a" });
  });

  it("logs it at most once per 30 s per provider", async () => {
    const events: string[] = [];
    const p = await openTestPool({ onEvent: (event) => events.push(event.event) });
    await addKeys(p, ["a"]);
    await p.report("a", { error: { status: 401 } });
    const noCredential = () => events.filter((event) => event === "pool.no_credential").length;
    for (let i = 0; i < 5; i++) await caught(p.lease("anthropic"));
    expect(noCredential()).toBe(1);
    clock = NOW + 30 * SECOND - 1;
    await caught(p.lease("anthropic"));
    expect(noCredential()).toBe(1);
    clock = NOW + 30 * SECOND;
    await caught(p.lease("anthropic"));
    expect(noCredential()).toBe(2);
  });

  it("names the fix when a provider has no credentials at all", async () => {
    const p = await openTestPool();
    const error = await caught(p.lease("openrouter"));
    expect(error.code).toBe("E_NO_CREDENTIAL");
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.message).toContain("credpool add openrouter");
  });
});

describe("leases in one process", () => {
  it("holds maxConcurrent among concurrent leases, which share one commit", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a"], { maxConcurrent: 2 });
    const before = (await readDisk()).rev;
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => p.lease("anthropic")));
    const granted = results.filter((result) => result.status === "fulfilled");
    const refused = results.filter((result) => result.status === "rejected");
    expect(granted).toHaveLength(2);
    expect(refused.map((result) => (result.reason as PoolError).code)).toEqual(Array(3).fill("E_NO_CREDENTIAL"));
    const disk = await readDisk();
    expect(disk.providers.anthropic?.credentials[0]?.leases).toHaveLength(2);
    expect(disk.rev).toBeLessThan(before + 5);
    for (const result of granted) await result.value.release();
    expect((await readDisk()).providers.anthropic?.credentials[0]?.leases).toEqual([]);
  });

  it("skips a credential whose refresh fails for the next one, and reports the refresh error when none is left", async () => {
    const refused = new Set<string>();
    const p = await openTestPool({
      refresher: (_pool, credential) => {
        if (refused.has(credential.label)) {
          return Promise.reject(new PoolError("E_REFRESH_FAILED", `refresh of ${credential.label} failed`));
        }
        return Promise.resolve(credential);
      },
    });
    for (const label of ["first", "second"]) {
      await p.add({
        provider: "anthropic",
        label,
        kind: "oauth",
        secrets: { accessToken: `at-${label}-0123456789`, refreshToken: `rt-${label}-0123456789` },
      });
    }
    refused.add("first");
    const lease = await p.lease("anthropic");
    expect(lease.label).toBe("second");
    await lease.release();

    refused.add("second");
    const error = await caught(p.lease("anthropic"));
    expect(error.code).toBe("E_REFRESH_FAILED");
    expect(error.message).toBe("refresh of first failed");
  });

  it("renews a lease, and refuses to renew one whose TTL lapsed", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a"], { maxConcurrent: 1 });
    const lease = await p.lease("anthropic", { ttlMs: 10 * SECOND });
    clock = NOW + 8 * SECOND;
    await lease.renew(10 * SECOND);
    expect(lease.leaseExpiresAt).toBe(NOW + 18 * SECOND);
    clock = NOW + 17 * SECOND;
    expect((await caught(p.lease("anthropic"))).code).toBe("E_NO_CREDENTIAL");
    clock = NOW + 18 * SECOND;
    expect((await caught(lease.renew())).code).toBe("E_NOT_FOUND");
  });
});

describe("usage counters", () => {
  it("are batched in memory and written on close: a graceful close loses nothing", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    const rev = (await readDisk()).rev;
    const labels = await leaseLabels(p, 10);
    expect(labels).toEqual(Array(10).fill("a"));
    // Batched: no write per request.
    expect((await readDisk()).rev).toBe(rev);
    expect((await readDisk()).providers.anthropic?.credentials[0]?.usage.requests).toBe(0);
    await p.close();
    pool = undefined;
    const disk = await readDisk();
    expect(disk.rev).toBe(rev + 1);
    expect(disk.providers.anthropic?.credentials[0]?.usage).toMatchObject({
      requests: 10,
      failures: 0,
      lastUsedAt: NOW,
    });
  });

  it("are flushed by the timer without any call", async () => {
    const p = await openTestPool({ usageFlushMs: 20 });
    await addKeys(p, ["a"]);
    await leaseLabels(p, 3);
    const flushed = (doc: PoolDocument) => doc.providers.anthropic?.credentials[0]?.usage.requests === 3;
    expect(flushed(p.doc)).toBe(false);
    // Our own commit reaches our snapshot listeners; the test times out if the timer never flushes.
    await new Promise<void>((resolve) => {
      const stop = p.onChange((change) => {
        if (flushed(change.doc)) {
          stop();
          resolve();
        }
      });
    });
    expect(flushed(await readDisk())).toBe(true);
  });

  it("wait for a lease's refresher: N processes waiting for one refresh must not each commit ahead of it", async () => {
    let finishRefresh: () => void = () => undefined;
    const refreshing = new Promise<void>((resolve) => {
      finishRefresh = resolve;
    });
    const p = await openTestPool({
      usageFlushMs: 20,
      refresher: async (_pool, credential) => {
        await refreshing;
        return credential;
      },
    });
    await p.add({
      provider: "anthropic",
      label: "oauth",
      kind: "oauth",
      secrets: { accessToken: "at-oauth-0123456789", refreshToken: "rt-oauth-0123456789" },
    });
    const rev = (await readDisk()).rev;
    const leasing = p.lease("anthropic");
    // Ten flush intervals: a timer started with the lease would have committed by now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await readDisk()).rev).toBe(rev);
    const flushed = new Promise<void>((resolve) => {
      const stop = p.onChange((change) => {
        if (change.doc.providers.anthropic?.credentials[0]?.usage.requests === 1) {
          stop();
          resolve();
        }
      });
    });
    finishRefresh();
    await (await leasing).release();
    // The test times out if the count is never flushed once the token is settled.
    await flushed;
  });

  it("flush() resolves only once every count it was asked to write is on disk, even with flushes queued", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a"]);
    await leaseLabels(p, 1);
    const first = p.flush();
    await leaseLabels(p, 1);
    const second = p.flush();
    const third = p.flush();
    await third;
    expect((await readDisk()).providers.anthropic?.credentials[0]?.usage.requests).toBe(2);
    await Promise.all([first, second]);
  });

  it("keeps failures and requests together when a failure commits pending usage", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await leaseLabels(p, 4);
    const lease = await p.lease("anthropic");
    await lease.release({ error: { status: 500 } });
    expect((await readDisk()).providers.anthropic?.credentials[0]?.usage).toMatchObject({ requests: 5, failures: 1 });
  });
});

describe("settings.secrets.release", () => {
  it("refuses a lease with E_SECRETS_NEVER_RELEASED when it is never, except one the caller keeps in its process", async () => {
    const p = await openTestPool();
    await p.add({ provider: "anthropic", label: "kept", secrets: { apiKey: "sk-ant-api03-kept" } });
    await p.setSecretRelease("never");
    const refused = await p.lease("anthropic").then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isPoolError(refused, "E_SECRETS_NEVER_RELEASED")).toBe(true);
    const kept = await p.lease("anthropic", { inProcess: true });
    expect(kept.token).toBe("sk-ant-api03-kept");
    await kept.release();
    await p.setSecretRelease("lease");
    const leased = await p.lease("anthropic");
    await leased.release();
  });
});
