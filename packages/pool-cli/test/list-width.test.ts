// `credpool list` on a real terminal (a pty from `script`) fits the terminal's width instead of wrapping rows:
// id, source and kind go first, then labels and statuses are cut with "…". `--wide` and a pipe get every column.
import { spawn } from "node:child_process";
import { openPool } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { CLI_BIN, fixtureSecret, recordOutput, useTestPools, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();

const DEAD_ADVICE = "dead: refresh_token_reused · log in again in Claude Code";
const LONG_LABEL = "personal-research-budget";

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Runs credpool with stdout on a pty `columns` wide; lines come back without the pty's carriage returns. */
function runInTerminal(
  pool: TestPool,
  args: readonly string[],
  columns: number,
): Promise<{ code: number | null; lines: string[] }> {
  const command = [process.execPath, CLI_BIN, "--pool", pool.path, ...args].map(shellQuote).join(" ");
  const child = spawn("script", ["-qec", `stty cols ${columns} rows 40 && exec ${command}`, "/dev/null"], {
    env: { ...process.env, NO_COLOR: "1", TERM: "xterm" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      recordOutput(`credpool ${args.join(" ")} (${columns}-column terminal)`, output);
      resolve({ code, lines: output.replace(/\r/g, "").trimEnd().split("\n") });
    });
  });
}

/** A benched key, a dead OAuth login (whose status carries long advice) and a key with a long label. */
async function seedPool(pool: TestPool): Promise<void> {
  const [work = ""] = await pool.seed([
    { provider: "anthropic", label: "work" },
    { provider: "openrouter", label: LONG_LABEL },
  ]);
  const opened = await openPool({ file: { path: pool.path } });
  try {
    const dead = await opened.add({
      provider: "anthropic",
      kind: "oauth",
      label: "max-plan",
      source: "claude-code",
      secrets: { accessToken: fixtureSecret("sk-ant-oat01-"), refreshToken: fixtureSecret("sk-ant-ort01-") },
    });
    await opened.report(work, { error: { status: 429, headers: { "retry-after": "2460" } } });
    await opened.report(dead.id, {
      error: { status: 400, reason: "refresh_token_reused", message: "refresh_token_reused" },
    });
  } finally {
    await opened.close();
  }
}

function headerOf(lines: readonly string[]): string[] {
  return (lines[0] ?? "").split(/\s{2,}/);
}

describe("credpool list on a terminal", () => {
  it("fits 100 columns by leaving out id, source and kind, and cuts only the long status", async () => {
    const pool = await freshPool();
    await seedPool(pool);
    const { code, lines } = await runInTerminal(pool, ["list"], 100);
    expect(code, lines.join("\n")).toBe(0);
    expect(headerOf(lines)).toEqual(["#", "label", "priority", "status", "requests", "last used"]);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
    expect(lines.join("\n")).toContain(LONG_LABEL);
    expect(lines.join("\n")).toContain("exhausted 429 · 41m left");
    const dead = lines.find((line) => line.includes("max-plan")) ?? "";
    expect(dead).toMatch(/dead: refresh_token_reused.*…/);
    expect(dead).not.toContain("Claude Code");
  });

  it("fits 80 columns by cutting labels and statuses too", async () => {
    const pool = await freshPool();
    await seedPool(pool);
    const { code, lines } = await runInTerminal(pool, ["list"], 80);
    expect(code, lines.join("\n")).toBe(0);
    expect(headerOf(lines)).toEqual(["#", "label", "priority", "status", "requests", "last used"]);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80);
    const router = lines.find((line) => line.startsWith("openrouter#1")) ?? "";
    expect(router).toMatch(/ personal-\S*… /);
    expect(router).not.toContain(LONG_LABEL);
    expect(lines.find((line) => line.includes("max-plan"))).toMatch(/ dead: \S.*… /);
  });

  it("shows every column in full with --wide, however narrow the terminal", async () => {
    const pool = await freshPool();
    await seedPool(pool);
    const { code, lines } = await runInTerminal(pool, ["list", "--wide"], 80);
    expect(code, lines.join("\n")).toBe(0);
    expect(headerOf(lines)).toEqual([
      "#",
      "id",
      "label",
      "kind",
      "priority",
      "source",
      "status",
      "requests",
      "last used",
    ]);
    const text = lines.join("\n");
    expect(text).toContain(LONG_LABEL);
    expect(text).toContain(`${DEAD_ADVICE} (run`);
    expect(text).not.toContain("…");
  });
});

describe("credpool list into a pipe", () => {
  it("prints every column in full", async () => {
    const pool = await freshPool();
    await seedPool(pool);
    const result = await pool.run(["list"]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(headerOf(lines)).toEqual([
      "#",
      "id",
      "label",
      "kind",
      "priority",
      "source",
      "status",
      "requests",
      "last used",
    ]);
    expect(result.stdout).toContain(LONG_LABEL);
    expect(result.stdout).toContain(`${DEAD_ADVICE} (run`);
    expect(result.stdout).not.toContain("…");
  });
});
