// Quota windows on the pool: which 429 benches what for how long (table-driven, named by provider and wire sample),
// windows kept per credential and written with the batched flush (newest wins, a failed commit loses nothing),
// and the headroom strategy. The clock is injected; nothing waits for real time.
import { afterEach, describe, expect, it } from "vitest";
import {
  createMemoryBackend,
  openPool,
  parseQuotaWindows,
  type FailureReport,
  type Pool,
  type PoolBackend,
} from "@credpool/pool-core";
import { headroomOf, mergeQuota, parseResetInfo, reportsAccountLimit, type HeaderBag } from "../../src/pool/index.js";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const epochSeconds = (at: number) => String(Math.floor(at / 1000));

/** Anthropic subscription 429 with the 5h window rejected and the 7d window allowed. */
const CLAUDE_5H_REJECTED: HeaderBag = {
  "retry-after": "60",
  "anthropic-ratelimit-unified-status": "rejected",
  "anthropic-ratelimit-unified-5h-status": "rejected",
  "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 3 * HOUR),
  "anthropic-ratelimit-unified-5h-utilization": "1.0",
  "anthropic-ratelimit-unified-7d-status": "allowed",
  "anthropic-ratelimit-unified-7d-reset": epochSeconds(NOW + 90 * HOUR),
  "anthropic-ratelimit-unified-7d-utilization": "0.41",
  "anthropic-ratelimit-unified-representative-claim": "five_hour",
};

/** Anthropic subscription 429 that is a short throttle: every window still allows requests. */
const CLAUDE_THROTTLE: HeaderBag = {
  "retry-after": "20",
  "anthropic-ratelimit-unified-status": "allowed",
  "anthropic-ratelimit-unified-5h-status": "allowed",
  "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 4 * HOUR),
  "anthropic-ratelimit-unified-5h-utilization": "0.3",
  "anthropic-ratelimit-unified-representative-claim": "five_hour",
};

/** Codex (ChatGPT plan) usage-limit 429: the 5-hour primary window used up. */
const CODEX_PRIMARY_USED_UP: HeaderBag = {
  "x-codex-primary-used-percent": "100",
  "x-codex-primary-window-minutes": "300",
  "x-codex-primary-reset-after-seconds": "7200",
  "x-codex-secondary-used-percent": "35",
  "x-codex-secondary-window-minutes": "10080",
  "x-codex-secondary-reset-after-seconds": "400000",
};

describe("which 429 benches for how long", () => {
  it.each<[string, HeaderBag, number | undefined, boolean]>([
    [
      "Anthropic subscription: 5h window rejected, retry-after 60 → the window's reset",
      CLAUDE_5H_REJECTED,
      3 * HOUR,
      true,
    ],
    ["Anthropic subscription: per-minute throttle, windows allowed → retry-after", CLAUDE_THROTTLE, 20 * SECOND, false],
    [
      "Anthropic subscription: only the top-level status rejected, overall reset 2 h",
      {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": epochSeconds(NOW + 2 * HOUR),
      },
      2 * HOUR,
      true,
    ],
    [
      "Anthropic subscription: overage rejected while the plan's windows allow → not the account's limit",
      {
        "retry-after": "15",
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-reset": epochSeconds(NOW + 10 * HOUR),
      },
      15 * SECOND,
      false,
    ],
    ["Codex: primary window at 100 %, reset after 7200 s", CODEX_PRIMARY_USED_UP, 2 * HOUR, true],
    [
      "Codex: secondary window at 100 % with an absolute reset-at, retry-after 30 → the window's reset",
      {
        "retry-after": "30",
        "x-codex-primary-used-percent": "12",
        "x-codex-secondary-used-percent": "100",
        "x-codex-secondary-reset-at": epochSeconds(NOW + 26 * HOUR),
      },
      26 * HOUR,
      true,
    ],
    [
      "Codex: windows with room (42 %, 94 %) and retry-after 5 → a throttle",
      {
        "retry-after": "5",
        "x-codex-primary-used-percent": "42",
        "x-codex-primary-reset-after-seconds": "18000",
        "x-codex-secondary-used-percent": "94",
        "x-codex-secondary-reset-after-seconds": "486400",
      },
      5 * SECOND,
      false,
    ],
    [
      "OpenAI API key: requests bucket empty (1s) → per-bucket, not account-wide",
      { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s" },
      SECOND,
      false,
    ],
  ])("%s", (_case, headers, expected, accountWide) => {
    expect(parseResetInfo(headers, undefined, NOW)).toBe(expected);
    expect(reportsAccountLimit(headers)).toBe(accountWide);
  });
});

let pool: Pool | undefined;
let clock = NOW;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

/** A memory backend whose next `update` can be made to fail, as a full disk or a lost lock would. */
function flakyBackend(): { backend: PoolBackend; failNext: () => void } {
  const inner = createMemoryBackend();
  let fail = false;
  const backend = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === "update" && fail) {
        fail = false;
        return () => Promise.reject(new Error("injected commit failure"));
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { backend, failNext: () => (fail = true) };
}

async function openTestPool(backend: PoolBackend = createMemoryBackend()): Promise<Pool> {
  clock = NOW;
  pool = await openPool({ backend, now: () => clock, usageFlushMs: 60_000 });
  return pool;
}

async function addKeys(p: Pool, labels: string[], provider = "anthropic"): Promise<void> {
  for (const label of labels) await p.add({ provider, label, secrets: { apiKey: `fake-key-${label}` } });
}

function observe(p: Pool, label: string, headers: HeaderBag, at = clock): void {
  p.observeQuota(p.resolve(label).id, parseQuotaWindows(headers, at), at);
}

const unified = (fiveHour: number, sevenDay: number): HeaderBag => ({
  "anthropic-ratelimit-unified-status": "allowed",
  "anthropic-ratelimit-unified-5h-utilization": String(fiveHour),
  "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 2 * HOUR),
  "anthropic-ratelimit-unified-7d-utilization": String(sevenDay),
  "anthropic-ratelimit-unified-7d-reset": epochSeconds(NOW + 100 * HOUR),
});

describe("a 429 on the pool", () => {
  const report = (headers: HeaderBag): FailureReport => ({ status: 429, model: "claude-sonnet-4", headers });

  it("benches the whole credential until a rejected 5h window resets, even when the request named a model", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("a", { error: report(CLAUDE_5H_REJECTED) });
    expect(p.resolve("a").status).toMatchObject({ state: "exhausted", until: NOW + 3 * HOUR });
    expect(p.resolve("a").modelCooldowns).toBeUndefined();
    expect(p.select("anthropic", { model: "claude-opus-4" }).label).toBe("b");
  });

  it("benches only the model, for the retry-after, on a per-minute throttle whose windows still allow", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"]);
    await p.report("a", { error: report(CLAUDE_THROTTLE) });
    expect(p.resolve("a").status.state).toBe("ok");
    expect(p.resolve("a").modelCooldowns).toMatchObject([{ model: "claude-sonnet-4", until: NOW + 20 * SECOND }]);
    expect(p.select("anthropic", { model: "claude-opus-4" }).label).toBe("a");
  });

  it("benches a Codex account for its used-up primary window", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a", "b"], "openai-codex");
    await p.report("a", { error: { status: 429, model: "gpt-5-codex", headers: CODEX_PRIMARY_USED_UP } });
    expect(p.resolve("a").status).toMatchObject({ state: "exhausted", until: NOW + 2 * HOUR });
  });
});

describe("quota windows kept per credential", () => {
  it("reach the document with the batched flush, and a newer observation replaces an older one, never the reverse", async () => {
    const p = await openTestPool();
    await addKeys(p, ["a"]);
    observe(p, "a", unified(0.6, 0.2), NOW + 2 * SECOND);
    // Arrives later but was observed earlier (a slow response): it must not undo the newer reading.
    observe(p, "a", unified(0.1, 0.1), NOW + SECOND);
    expect(p.resolve("a").quota).toBeUndefined();
    await p.flush();
    const quota = p.resolve("a").quota;
    expect(quota?.observedAt).toBe(NOW + 2 * SECOND);
    expect(quota?.windows.map((window) => [window.name, window.utilisation])).toEqual([
      ["5h", 0.6],
      ["7d", 0.2],
    ]);
    // Committed, an older reading still loses.
    observe(p, "a", unified(0.05, 0.05), NOW + SECOND);
    await p.flush();
    expect(p.resolve("a").quota?.windows.find((window) => window.name === "5h")?.utilisation).toBe(0.6);
    observe(p, "a", unified(0.7, 0.25), NOW + 3 * SECOND);
    await p.flush();
    expect(p.resolve("a").quota?.windows.find((window) => window.name === "5h")?.utilisation).toBe(0.7);
  });

  it("keeps the newest observation through a failed commit", async () => {
    const { backend, failNext } = flakyBackend();
    const p = await openTestPool(backend);
    await addKeys(p, ["a"]);
    observe(p, "a", unified(0.3, 0.15), NOW + SECOND);
    failNext();
    await expect(p.flush()).rejects.toThrow(/injected/);
    // Observed after the failed commit's reading: newer for 5h, and kept over the 5h put back; 7d comes only from
    // the failed commit, so it must have been put back.
    observe(
      p,
      "a",
      {
        "anthropic-ratelimit-unified-5h-utilization": "0.4",
        "anthropic-ratelimit-unified-5h-reset": epochSeconds(NOW + 2 * HOUR),
      },
      NOW + 2 * SECOND,
    );
    await p.flush();
    const windows = p.resolve("a").quota?.windows.map((window) => [window.name, window.utilisation]);
    expect(Object.fromEntries(windows ?? [])).toEqual({ "5h": 0.4, "7d": 0.15 });
  });

  it("merges windows reported by different responses, each newest-first", () => {
    const first = { observedAt: 10, windows: [{ name: "5h", utilisation: 0.5, observedAt: 10 }] };
    const second = { observedAt: 20, windows: [{ name: "requests", utilisation: 0.1, observedAt: 20 }] };
    expect(
      mergeQuota(second, first)
        ?.windows.map((window) => window.name)
        .sort(),
    ).toEqual(["5h", "requests"]);
    expect(mergeQuota(second, first)?.observedAt).toBe(20);
  });
});

describe("headroom", () => {
  it.each<[string, Parameters<typeof headroomOf>[0], number | undefined]>([
    ["no observation", undefined, undefined],
    [
      "the tightest window counts (5h 60 %, 7d 20 %)",
      {
        observedAt: NOW,
        windows: [
          { name: "5h", utilisation: 0.6, resetAt: NOW + HOUR, observedAt: NOW },
          { name: "7d", utilisation: 0.2, resetAt: NOW + 90 * HOUR, observedAt: NOW },
        ],
      },
      0.4,
    ],
    [
      "a rejected window counts as used up",
      { observedAt: NOW, windows: [{ name: "5h", status: "rejected", resetAt: NOW + HOUR, observedAt: NOW }] },
      0,
    ],
    [
      "a window whose reset has passed is stale and ignored",
      { observedAt: NOW, windows: [{ name: "5h", utilisation: 0.9, resetAt: NOW - MINUTE, observedAt: NOW - HOUR }] },
      undefined,
    ],
  ])("%s", (_case, quota, expected) => {
    const room = headroomOf(quota, NOW);
    if (expected === undefined) expect(room).toBeUndefined();
    else expect(room).toBeCloseTo(expected, 10);
  });

  it("picks the most quota left in the tightest window; ties by priority; unknown yields to known equal", async () => {
    const p = await openTestPool();
    await addKeys(p, ["unknown", "busy", "fresh", "fresh2"]);
    await p.setStrategy("anthropic", "headroom");
    // Unflushed observations count already: this process's own picks see them at once.
    observe(p, "busy", unified(0.8, 0.1));
    observe(p, "fresh", unified(0.1, 0.3));
    observe(p, "fresh2", unified(0.2, 0.3));
    // Never observed: counted as untouched, so it is tried (and observed) before the others.
    expect(p.select("anthropic").label).toBe("unknown");
    observe(p, "unknown", unified(0.5, 0.5));
    // fresh and fresh2 both have 70 % left in their tightest (7d) window: priority (list order) decides.
    expect(p.select("anthropic").label).toBe("fresh");
    await p.setPriority("fresh2", -1);
    expect(p.select("anthropic").label).toBe("fresh2");
    await p.setPriority("fresh2", 0);
    // A known credential with its windows untouched beats an unknown one listed before it.
    await p.flush();
    await p.update((doc) => {
      const unknown = doc.providers.anthropic?.credentials.find((item) => item.label === "unknown");
      if (unknown) delete unknown.quota;
    });
    await p.flush();
    observe(p, "fresh2", unified(0, 0), NOW + SECOND);
    expect(p.select("anthropic").label).toBe("fresh2");
    await p.flush();
    expect(p.select("anthropic").label).toBe("fresh2");
    // Once every window has reset, none says anything: all count as unknown and list order decides.
    clock = NOW + 101 * HOUR;
    expect(p.select("anthropic").label).toBe("unknown");
  });
});
