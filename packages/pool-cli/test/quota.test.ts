// Quota windows in `credpool list` and `show` (text and JSON): current windows with their reset in local time,
// stale ones (their reset has passed) without their old utilisation; and the headroom strategy from the CLI.
import { createFileBackend } from "@credpool/pool-core";
import { describe, expect, it } from "vitest";
import { useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();
const HOUR = 3_600_000;

async function storeQuota(path: string, label: string, windows: Record<string, unknown>[]): Promise<void> {
  const backend = createFileBackend({ path });
  try {
    await backend.update((doc) => {
      const credential = doc.providers.anthropic?.credentials.find((item) => item.label === label);
      if (!credential) throw new Error(`no credential ${label}`);
      const observedAt = Date.now() - 60_000;
      credential.quota = {
        observedAt,
        representative: "5h",
        windows: windows.map((window) => ({ observedAt, ...window })) as never,
      };
    });
  } finally {
    await backend.close();
  }
}

describe("quota windows in list and show", () => {
  it("shows current windows with their reset, the tightest first, and a passed reset as stale", async () => {
    const pool = await freshPool();
    await pool.seed([
      { provider: "anthropic", label: "sub" },
      { provider: "anthropic", label: "never" },
    ]);
    const fiveHour = Date.now() + 2 * HOUR;
    await storeQuota(pool.path, "sub", [
      { name: "7d", utilisation: 0.4, resetAt: Date.now() + 100 * HOUR, status: "allowed" },
      { name: "5h", utilisation: 0.62, resetAt: fiveHour, status: "allowed" },
      { name: "requests", utilisation: 0.9, resetAt: Date.now() - 60_000 },
    ]);

    const listed = await pool.run(["list", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const credentials = (JSON.parse(listed.stdout) as { credentials: Array<{ label: string; quota: unknown[] }> })
      .credentials;
    const sub = credentials.find((credential) => credential.label === "sub");
    expect(sub?.quota).toMatchObject([
      { name: "5h", utilisation: 0.62, usedPercent: 62, resetAt: new Date(fiveHour).toISOString(), stale: false },
      { name: "7d", utilisation: 0.4, usedPercent: 40, stale: false },
      { name: "requests", utilisation: null, usedPercent: null, stale: true },
    ]);
    expect(credentials.find((credential) => credential.label === "never")?.quota).toEqual([]);

    const table = await pool.run(["list", "--wide"]);
    expect(table.stdout).toMatch(
      /5h 62% · resets \d{2}:\d{2}, 7d 40% · resets [A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}, \+1 more/,
    );

    const shown = await pool.run(["show", "sub"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/quota\s+5h 62% · resets/);
    expect(shown.stdout).toMatch(/requests stale · reset \d{2}:\d{2}/);
    expect(shown.stdout).not.toContain("requests 90%");
    const detail = JSON.parse((await pool.run(["show", "sub", "--json"])).stdout) as {
      credential: { quota: unknown[] };
    };
    expect(detail.credential.quota).toHaveLength(3);
  });

  it("sets and shows the headroom strategy", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "one" }]);
    const set = await pool.run(["strategy", "anthropic", "headroom"]);
    expect(set.code, set.stderr).toBe(0);
    const shown = await pool.run(["strategy", "anthropic", "--json"]);
    expect(JSON.parse(shown.stdout)).toEqual({ provider: "anthropic", strategy: "headroom", isDefault: false });
  });
});
