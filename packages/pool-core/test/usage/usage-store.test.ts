// The usage recorder: counts merge into hourly buckets, a failed flush keeps them for the next, old buckets are
// pruned on write; and the report sums, groups and prices them.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createTempDir } from "@credpool/pool-testkit";
import { describe, expect, it } from "vitest";
import { createUsageRecorder, openUsageBackend, summarizeUsage, findPrice } from "../../src/index.js";

const HOUR = 3_600_000;
const entry = {
  provider: "anthropic",
  credentialId: "c1",
  credentialLabel: "main",
  model: "claude-x",
  client: "agent",
  tokens: { input: 10, output: 5, cacheRead: 2, cacheWrite: 1 },
};

describe("createUsageRecorder", () => {
  it("merges requests into hourly buckets, keeps counts a failed flush could not write, and prunes old hours", async () => {
    const dir = await createTempDir("credpool-usage-");
    try {
      const path = dir.file("sub/usage.json");
      await mkdir(dir.file("sub"));
      let now = Date.parse("2026-01-10T10:15:00Z");
      const seed = openUsageBackend(path);
      await seed.update((doc) => {
        doc.buckets.push({ ...entry, ...entry.tokens, hour: "2025-11-01T00:00:00.000Z", requests: 9 });
      });
      await seed.close();
      const recorder = createUsageRecorder({ path, now: () => now, flushMs: 60_000 });
      recorder.record(entry);
      recorder.record(entry);
      // The file is unreadable for a while: the flush fails and the two requests stay pending.
      const good = await readFile(path, "utf8");
      await writeFile(path, "{ not json");
      await expect(recorder.flush()).rejects.toThrow(/usage\.json/);
      await writeFile(path, good);
      now += HOUR;
      recorder.record({ ...entry, client: "other", tokens: undefined });
      await recorder.close();
      const reader = openUsageBackend(path);
      const { doc } = await reader.read();
      await reader.close();
      expect(doc.buckets).toEqual(
        [
          {
            ...entry,
            ...entry.tokens,
            hour: "2026-01-10T10:00:00.000Z",
            requests: 2,
            input: 20,
            output: 10,
            cacheRead: 4,
            cacheWrite: 2,
          },
          {
            ...entry,
            hour: "2026-01-10T11:00:00.000Z",
            client: "other",
            requests: 1,
            input: 0,
            output: 0,
            cacheRead: 0,
            cacheWrite: 0,
          },
        ].map(({ tokens: _tokens, ...bucket }) => bucket),
      );
    } finally {
      await dir.remove();
    }
  });
});

describe("summarizeUsage", () => {
  const now = Date.parse("2026-01-10T12:30:00Z");
  const bucket = (hoursAgo: number, fields: Partial<typeof entry> & { requests?: number }) => ({
    ...entry,
    ...entry.tokens,
    requests: 1,
    ...fields,
    hour: new Date(Math.floor((now - hoursAgo * HOUR) / HOUR) * HOUR).toISOString(),
  });
  const buckets = [
    bucket(0, { requests: 2 }),
    bucket(1, { model: "gpt-y", provider: "openai", credentialLabel: "oai" }),
    bucket(30, { requests: 50 }),
  ];

  it("sums the window by credential, model or client, pricing by exact name before the longest glob", () => {
    const prices = { "claude-*": { input: 1_000_000 }, "claude-x": { output: 1_000_000 }, "*": { input: 5 } };
    expect(findPrice(prices, "claude-x")).toEqual({ output: 1_000_000 });
    expect(findPrice(prices, "claude-z")).toEqual({ input: 1_000_000 });
    expect(findPrice(prices, "gpt-y")).toEqual({ input: 5 });
    const rows = summarizeUsage(buckets, {
      sinceMs: now - 2 * HOUR,
      by: "credential",
      prices: { "claude-x": { output: 1 } },
    });
    expect(rows.map((row) => [row.key, row.requests, row.input, row.cost, row.unpricedRequests])).toEqual([
      ["anthropic/main", 2, 10, 5 / 1_000_000, 0],
      ["openai/oai", 1, 10, null, 1],
    ]);
    expect(
      summarizeUsage(buckets, { sinceMs: now - 48 * HOUR, by: "model" }).map((row) => [row.key, row.requests]),
    ).toEqual([
      ["anthropic/claude-x", 52],
      ["openai/gpt-y", 1],
    ]);
    expect(summarizeUsage(buckets, { sinceMs: now - 48 * HOUR, by: "client" }).map((row) => row.key)).toEqual([
      "agent",
    ]);
  });
});
