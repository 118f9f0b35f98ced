// Nothing in config.json is silently ignored: an unknown key still lets the command run, and is named with its file
// once on stderr per invocation, and as a `credpool doctor` finding.
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtureSecret, useTestPools } from "./helpers/cli.js";

describe("unknown keys in config.json", () => {
  const testPool = useTestPools();

  async function poolWithTypo() {
    const pool = await testPool();
    const file = join(dirname(pool.path), "config.json");
    await writeFile(file, JSON.stringify({ totp: { lockoutAtempts: 5 } }), { mode: 0o600 });
    const warning = `credpool: warning: unknown key \`totp.lockoutAtempts\` in ${file} is ignored; did you mean \`totp.lockoutAttempts\`?`;
    return { pool, file, warning };
  }

  function count(text: string, part: string): number {
    return text.split(part).length - 1;
  }

  it("warns once on stderr, naming the key and the file, even when the command reads config.json twice", async () => {
    const { pool, warning } = await poolWithTypo();
    // `import env` reads the file for the TOTP gate and again for its variable map.
    const result = await pool.run(["import", "env"], {
      env: { ANTHROPIC_API_KEY: "", OPENAI_API_KEY: "", OPENROUTER_API_KEY: fixtureSecret("sk-or-v1-") },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(count(result.stderr, "totp.lockoutAtempts")).toBe(1);
    expect(result.stderr).toContain(warning);
  });

  it("is a doctor finding, in text and in --json", async () => {
    const { pool, file } = await poolWithTypo();
    const text = await pool.run(["doctor"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      `warn  config: unknown key \`totp.lockoutAtempts\` in ${file} is ignored; did you mean \`totp.lockoutAttempts\`?`,
    );
    expect(text.stdout).toContain(`→ Fix or remove \`totp.lockoutAtempts\` in ${file}.`);

    const json = await pool.run(["doctor", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const findings = (JSON.parse(json.stdout) as { findings: { check: string; severity: string; message: string }[] })
      .findings;
    expect(findings.filter((finding) => finding.check === "config")).toEqual([
      expect.objectContaining({
        severity: "warning",
        message: expect.stringContaining(`\`totp.lockoutAtempts\` in ${file}`) as string,
      }),
    ]);
  });

  it("doctor says so when every key is known", async () => {
    const pool = await testPool();
    await writeFile(join(dirname(pool.path), "config.json"), JSON.stringify({ totp: { lockoutAttempts: 5 } }), {
      mode: 0o600,
    });
    const json = await pool.run(["doctor", "--json"]);
    const findings = (JSON.parse(json.stdout) as { findings: { check: string; severity: string }[] }).findings;
    expect(findings.filter((finding) => finding.check === "config")).toEqual([
      expect.objectContaining({ severity: "ok" }),
    ]);
    expect(json.stderr).not.toContain("warning");
  });

  it("knows the gateway's proxy section, and names a misspelt key inside it", async () => {
    const pool = await testPool();
    const file = join(dirname(pool.path), "config.json");
    await writeFile(
      file,
      JSON.stringify({
        proxy: { maxAttempts: 2, maxAtempts: 3, upstreams: {}, affinity: { ttlMs: 60_000, maxSesions: 5 } },
      }),
      { mode: 0o600 },
    );
    const json = await pool.run(["doctor", "--json"]);
    const messages = (JSON.parse(json.stdout) as { findings: { check: string; message: string }[] }).findings
      .filter((finding) => finding.check === "config")
      .map((finding) => finding.message);
    expect(messages).toEqual([
      `unknown key \`proxy.maxAtempts\` in ${file} is ignored; did you mean \`proxy.maxAttempts\`?`,
      `unknown key \`proxy.affinity.maxSesions\` in ${file} is ignored; did you mean \`proxy.affinity.maxSessions\`?`,
    ]);
  });
});
