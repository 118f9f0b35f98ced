// Viewing and managing credentials as real processes: list, show, remove, priority, strategy, reset, report,
// and what happens with ambiguous or missing targets.
import { createFileBackend, openPool } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { fixtureSecret, useTestPools, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();

async function readDoc(path: string) {
  const backend = createFileBackend({ path, createIfMissing: false });
  try {
    return (await backend.read()).doc;
  } finally {
    await backend.close();
  }
}

/** Three anthropic credentials (one benched for 41 minutes, one dead OAuth login) and one openrouter key. */
async function seedMixedPool(pool: TestPool): Promise<{ work: string; dead: string; spare: string; router: string }> {
  const [work = "", spare = "", router = ""] = await pool.seed([
    { provider: "anthropic", label: "work", priority: 0 },
    { provider: "anthropic", label: "spare", priority: 5 },
    { provider: "openrouter", label: "router" },
  ]);
  const opened = await openPool({ file: { path: pool.path } });
  try {
    const dead = await opened.add({
      provider: "anthropic",
      kind: "oauth",
      label: "max-plan",
      source: "claude-code",
      priority: 9,
      secrets: { accessToken: fixtureSecret("sk-ant-oat01-"), refreshToken: fixtureSecret("sk-ant-ort01-") },
    });
    await opened.report(work, { error: { status: 429, headers: { "retry-after": "2460" } } });
    await opened.report(dead.id, {
      error: { status: 400, reason: "refresh_token_reused", message: "refresh_token_reused" },
    });
    return { work, dead: dead.id, spare, router };
  } finally {
    await opened.close();
  }
}

describe("credpool list", () => {
  it("shows #, id, label, kind, priority, source, status with time left, requests and last used", async () => {
    const pool = await freshPool();
    const ids = await seedMixedPool(pool);
    const result = await pool.run(["list"]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^#\s+id\s+label\s+kind\s+priority\s+source\s+status\s+requests\s+last used$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^anthropic#1\\s+${ids.work}\\s+work\\s+api_key\\s+0\\s+manual\\s+exhausted 429 · 41m left\\s+1\\s+(just now|\\d+s ago)$`,
      ),
    );
    expect(lines[2]).toMatch(/^anthropic#2\s+\S+\s+spare\s+api_key\s+5\s+manual\s+ok\s+0\s+never$/);
    expect(lines[3]).toContain("oauth");
    expect(lines[3]).toContain("dead: refresh_token_reused · log in again in Claude Code");
    expect(lines[4]).toMatch(/^openrouter#1\s/);
    expect(result.stdout).not.toContain("\u001b[");
  });

  it("prints a stable JSON shape with --json and filters by provider", async () => {
    const pool = await freshPool();
    const ids = await seedMixedPool(pool);
    const result = await pool.run(["list", "anthropic", "--json"]);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout) as {
      path: string;
      rev: number;
      providers: object;
      credentials: Record<string, unknown>[];
    };
    expect(body.path).toBe(pool.path);
    expect(body.providers).toEqual({ anthropic: { strategy: "fill_first" } });
    expect(body.credentials.map((credential) => credential.ref)).toEqual(["anthropic#1", "anthropic#2", "anthropic#3"]);
    expect(body.credentials[0]).toMatchObject({
      id: ids.work,
      state: "exhausted",
      available: false,
      httpStatus: 429,
      reason: "rate_limit",
      requests: 1,
      failures: 1,
    });
    expect(body.credentials[0]?.secondsLeft).toBeGreaterThan(2400);
    expect(body.credentials[2]).toMatchObject({
      id: ids.dead,
      state: "dead",
      reason: "refresh_token_reused",
      kind: "oauth",
    });
    expect(Object.keys(body.credentials[1] ?? {}).sort()).toEqual(
      [
        "ref",
        "provider",
        "index",
        "id",
        "label",
        "kind",
        "priority",
        "source",
        "baseUrl",
        "state",
        "available",
        "status",
        "reason",
        "httpStatus",
        "until",
        "secondsLeft",
        "modelCooldowns",
        "requests",
        "failures",
        "lastUsedAt",
        "activeLeases",
        "maxConcurrent",
        "createdAt",
        "quota",
      ].sort(),
    );
  });

  it("says how to add one when the pool is empty, on stderr", async () => {
    const pool = await freshPool();
    const result = await pool.run(["list"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("No credentials in");
    expect(result.stderr).toContain("credpool add <provider>");
  });
});

describe("credpool show", () => {
  it("masks every secret as prefix…last4", async () => {
    const pool = await freshPool();
    const secret = fixtureSecret("sk-ant-api03-");
    await pool.seed([{ provider: "anthropic", label: "work", secrets: { apiKey: secret } }]);
    const text = await pool.run(["show", "WORK"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`api key           sk-ant-api03-…${secret.slice(-4)}`);
    const json = await pool.run(["show", "anthropic#1", "--json"]);
    const body = JSON.parse(json.stdout) as { credential: { secrets: Record<string, unknown>; label: string } };
    expect(body.credential.label).toBe("work");
    expect(body.credential.secrets).toEqual({
      apiKey: `sk-ant-api03-…${secret.slice(-4)}`,
      accessToken: null,
      refreshToken: null,
      idToken: null,
      accountId: null,
      expiresAt: null,
    });
  });

  it("lists the candidates for an ambiguous label (exit 3)", async () => {
    const pool = await freshPool();
    const [a, b] = await pool.seed([
      { provider: "anthropic", label: "shared" },
      { provider: "openrouter", label: "Shared" },
    ]);
    const result = await pool.run(["show", "shared"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('"shared" matches 2 credentials');
    expect(result.stderr).toContain(`anthropic/shared (id ${a})`);
    expect(result.stderr).toContain(`openrouter/Shared (id ${b})`);
    expect(result.stderr).toContain("Use an id or provider#N");
  });

  it("names what is missing (exit 3)", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const byLabel = await pool.run(["show", "nobody"]);
    expect(byLabel.code).toBe(3);
    expect(byLabel.stderr).toContain('No credential matches "nobody"');
    const byIndex = await pool.run(["show", "anthropic#7"]);
    expect(byIndex.code).toBe(3);
    expect(byIndex.stderr).toContain('provider "anthropic" has 1 credential(s)');
  });
});

describe("changing credentials", () => {
  it("remove, priority (negative too) and strategy change the pool", async () => {
    const pool = await freshPool();
    const [first, second] = await pool.seed([
      { provider: "anthropic", label: "one" },
      { provider: "anthropic", label: "two" },
    ]);
    const priority = await pool.run(["priority", "two", "-5"]);
    expect(priority.code, priority.stderr).toBe(0);
    expect(priority.stdout).toContain('Priority of anthropic "two" is -5 (now anthropic#1).');

    const strategy = await pool.run(["strategy", "anthropic", "round_robin"]);
    expect(strategy.code).toBe(0);
    const shown = await pool.run(["strategy", "anthropic", "--json"]);
    expect(JSON.parse(shown.stdout)).toEqual({ provider: "anthropic", strategy: "round_robin", isDefault: false });

    const removed = await pool.run(["remove", first ?? "", "--json"]);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed: { id: first, label: "one" } });

    const doc = await readDoc(pool.path);
    expect(doc.providers.anthropic?.strategy).toBe("round_robin");
    expect(doc.providers.anthropic?.credentials.map((credential) => [credential.id, credential.priority])).toEqual([
      [second, -5],
    ]);
  });

  it("rejects an unknown strategy and a bad priority with exit 2", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "one" }]);
    const strategy = await pool.run(["strategy", "anthropic", "fastest"]);
    expect(strategy.code).toBe(2);
    expect(strategy.stderr).toContain(
      "the strategy must be one of fill_first, round_robin, least_used, random, headroom",
    );
    const priority = await pool.run(["priority", "one", "1.5"]);
    expect(priority.code).toBe(2);
    expect(priority.stderr).toContain("<n> must be a whole number");
    const missing = await pool.run(["priority", "one"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("Missing <n>.");
  });

  it("remove of a missing target exits 3 and changes nothing", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "one" }]);
    const before = await readDoc(pool.path);
    const result = await pool.run(["remove", "two"]);
    expect(result.code).toBe(3);
    expect((await readDoc(pool.path)).rev).toBe(before.rev);
  });
});

describe("health from the command line", () => {
  it("report benches with the provider's retry-after, and reset clears it", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "anthropic", label: "work" },
      { provider: "anthropic", label: "spare" },
    ]);
    const report = await pool.run(["report", "work", "--status", "429", "--retry-after", "2m"]);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toBe('Recorded 429 for anthropic "work": exhausted 429 · 2m left.\n');

    const perModel = await pool.run(["report", "spare", "--status", "429", "--model", "claude-opus-4", "--json"]);
    const body = JSON.parse(perModel.stdout) as { credential: { state: string; modelCooldowns: { model: string }[] } };
    expect(body.credential.state).toBe("ok");
    expect(body.credential.modelCooldowns.map((cooldown) => cooldown.model)).toEqual(["claude-opus-4"]);

    const reset = await pool.run(["reset", "anthropic", "--json"]);
    expect(reset.code).toBe(0);
    const cleared = JSON.parse(reset.stdout) as {
      reset: { label: string; state: string; modelCooldowns: unknown[] }[];
    };
    expect(
      cleared.reset.map((credential) => [credential.label, credential.state, credential.modelCooldowns.length]),
    ).toEqual([
      ["work", "ok", 0],
      ["spare", "ok", 0],
    ]);
  });

  it("report needs --status", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const result = await pool.run(["report", "work"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--status is required");
  });

  it("reset of a target that belongs to another provider exits 3", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "anthropic", label: "work" },
      { provider: "openrouter", label: "router" },
    ]);
    const result = await pool.run(["reset", "anthropic", "router"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("is not a anthropic credential");
  });
});
