// `credpool usage`: token usage of proxied requests, from usage.json beside the pool (the gateway writes it at most
// once a second). Reads the file once, without a lock; costs come from config.json's optional `prices`.
import { dirname } from "node:path";
import {
  PoolError,
  USAGE_GROUPINGS,
  openUsageBackend,
  summarizeUsage,
  usageLocation,
  usagePathFor,
  type UsageGrouping,
} from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { loadCliConfig } from "../config.js";
import { parseSecondsOrDuration } from "../durations.js";
import { createOutput, renderTable, type Row } from "../output.js";
import { documentStoreFor, resolveCliPoolPath } from "../pool-access.js";

const MAX_SINCE_MS = 366 * 24 * 3_600_000;

function grouping(text: string | undefined): UsageGrouping {
  if (text === undefined) return "credential";
  if ((USAGE_GROUPINGS as readonly string[]).includes(text)) return text as UsageGrouping;
  throw new PoolError("E_USAGE", `--by takes ${USAGE_GROUPINGS.join(", ")}, got "${text}".`);
}

function sinceMs(text: string | undefined): number {
  if (text === undefined) return 24 * 3_600_000;
  return parseSecondsOrDuration("--since", text, { minMs: 1000, maxMs: MAX_SINCE_MS });
}

function formatCost(cost: number | null, unpriced: number): string {
  if (cost === null) return "-";
  const text = `$${cost < 0.01 && cost > 0 ? cost.toFixed(4) : cost.toFixed(2)}`;
  return unpriced > 0 ? `${text}+` : text;
}

export const { help, run } = defineCommand({
  name: "usage",
  usage: "credpool usage [--since 24h] [--by credential|model|client] [--json]",
  description:
    "Requests and tokens that went through the gateway's proxy, per credential, model or client token, from\n" +
    "usage.json beside the pool, or the PostgreSQL store's usage row (kept 35 days, in hourly buckets, so\n" +
    "--since counts whole hours). input is uncached input; cache read and cache write are the cached part. cost\n" +
    "needs a `prices` table in config.json; a cost ending in + leaves out requests whose model has no price.",
  options: {
    since: { type: "string", value: "DURATION", description: "how far back, e.g. 90m, 24h, 7d (default 24h)" },
    by: { type: "string", value: "GROUP", description: "credential (default), model or client" },
    json: jsonOption,
  },
  examples: ["credpool usage", "credpool usage --since 7d --by model", "credpool usage --by client --json"],
  schema: z.object({
    since: z.string().optional(),
    by: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const by = grouping(input.by);
    const windowMs = sinceMs(input.since);
    const poolPath = await resolveCliPoolPath(context);
    const { config } = await loadCliConfig(context, dirname(poolPath));
    const documents = await documentStoreFor(context);
    const path = usageLocation(poolPath, documents);
    const backend = openUsageBackend(usagePathFor(poolPath), { create: true, documents });
    let buckets;
    try {
      buckets = (await backend.read()).doc.buckets;
    } finally {
      await backend.close();
    }
    const now = Date.now();
    const prices = config.prices;
    const rows = summarizeUsage(buckets, { sinceMs: now - windowMs, by, ...(prices ? { prices } : {}) });
    const since = new Date(now - windowMs).toISOString();
    if (input.json) {
      output.printJson({ path, since, by, priced: prices !== undefined, rows });
      return 0;
    }
    if (rows.length === 0) {
      output.note(`No proxied requests since ${since} in ${path}.`);
      return 0;
    }
    const headers = [by, "requests", "input", "output", "cache read", "cache write"];
    if (prices) headers.push("cost");
    const total = { requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
    const table: Row[] = rows.map((row) => {
      total.requests += row.requests;
      total.input += row.input;
      total.output += row.output;
      total.cacheRead += row.cacheRead;
      total.cacheWrite += row.cacheWrite;
      const cells = [row.key, ...[row.requests, row.input, row.output, row.cacheRead, row.cacheWrite].map(String)];
      if (prices) cells.push(formatCost(row.cost, row.unpricedRequests));
      return cells;
    });
    if (rows.length > 1) {
      const cells: Row[number][] = [
        { text: "total", style: "bold" as const },
        ...[total.requests, total.input, total.output, total.cacheRead, total.cacheWrite].map(String),
      ];
      if (prices) {
        const priced = rows.filter((row) => row.cost !== null);
        const cost = priced.length === 0 ? null : priced.reduce((sum, row) => sum + (row.cost ?? 0), 0);
        cells.push(
          formatCost(
            cost,
            rows.reduce((sum, row) => sum + row.unpricedRequests, 0),
          ),
        );
      }
      table.push(cells);
    }
    output.print(renderTable(output, headers, table));
    return 0;
  },
});
