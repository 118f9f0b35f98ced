// Session affinity through a real gateway process: the requests of one conversation keep one key (so the provider's
// prompt cache works), sessions still spread over the keys, and a session never stays on a key that is benched or
// full. The strategy is round_robin: without affinity it would move every session on every request, so a session
// that stays on one key shows the binding at work (under fill_first every session would land on the first key
// anyway and prove nothing).
import type { AddCredentialInput } from "@credpool/pool-core";
import type { FakeUpstreamRequest } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { benchedForSeconds, startProxyWorld, type ProxyWorld } from "./world.js";

const KEYS = [
  "sk-ant-api03-FIXTUREaffinityKEY1-0123456789abcdefghij",
  "sk-ant-api03-FIXTUREaffinityKEY2-0123456789abcdefghij",
  "sk-ant-api03-FIXTUREaffinityKEY3-0123456789abcdefghij",
] as const;
const MODEL = "claude-fake-1";
const SESSIONS = 20;
const TURNS = 10;

function threeKeys(extra: Partial<AddCredentialInput> = {}): AddCredentialInput[] {
  return KEYS.map((apiKey, index) => ({
    provider: "anthropic",
    label: `key${index + 1}`,
    secrets: { apiKey },
    ...extra,
  }));
}

type Source = "x-credpool-session" | "x-claude-code-session-id" | "metadata.user_id";
const SOURCES: readonly Source[] = ["x-credpool-session", "x-claude-code-session-id", "metadata.user_id"];

/** One turn of session `name`; the session's name rides in the prompt so the fake's record can tell sessions apart. */
async function turn(world: ProxyWorld, name: string, source: Source, index: number): Promise<number> {
  const headers: Record<string, string> = {
    "x-api-key": world.token,
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
  };
  if (source !== "metadata.user_id") headers[source] = name;
  const response = await fetch(`${world.gateway.url}/anthropic/v1/messages`, {
    method: "POST",
    headers,
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 16,
      messages: [{ role: "user", content: `${name} turn ${index}` }],
      ...(source === "metadata.user_id" ? { metadata: { user_id: `user_x_account__session_${name}` } } : {}),
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

function sessionOf(request: FakeUpstreamRequest): string {
  const body = JSON.parse(request.body) as { messages: Array<{ content: string }> };
  return body.messages[0]!.content.split(" ")[0]!;
}

/** The keys that served each session, in request order. */
function keysBySession(world: ProxyWorld): Map<string, string[]> {
  const served = new Map<string, string[]>();
  for (const request of world.upstream.requests) {
    const name = sessionOf(request);
    served.set(name, [...(served.get(name) ?? []), request.key ?? "none"]);
  }
  return served;
}

describe("proxy session affinity", () => {
  let world: ProxyWorld | undefined;
  afterEach(async () => {
    await world?.stop();
    world = undefined;
  });

  it(`keeps each of ${SESSIONS} concurrent sessions on one key over ${TURNS} requests, spread over all three keys`, async () => {
    world = await startProxyWorld({ credentials: threeKeys(), strategies: { anthropic: "round_robin" } });
    const statuses = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, session) => {
        const results: number[] = [];
        for (let index = 0; index < TURNS; index++) {
          results.push(await turn(world!, `s${session}`, SOURCES[session % SOURCES.length]!, index));
        }
        return results;
      }),
    );
    expect(statuses.flat()).toEqual(Array(SESSIONS * TURNS).fill(200));
    const served = keysBySession(world);
    expect(served.size).toBe(SESSIONS);
    for (const [name, keys] of served) {
      expect(keys, name).toHaveLength(TURNS);
      expect(new Set(keys).size, `${name} moved between keys`).toBe(1);
    }
    // Round robin hands each new session the next key: every key got sessions.
    expect(new Set([...served.values()].map((keys) => keys[0])).size).toBe(KEYS.length);
  });

  it("moves a session off a key benched by a 429 within the same request, and keeps it off while the key cools", async () => {
    world = await startProxyWorld({ credentials: threeKeys(), strategies: { anthropic: "round_robin" } });
    // Four sessions one after the other: round robin gives s3 the key s0 has.
    for (let session = 0; session < 4; session++) {
      expect(await turn(world, `s${session}`, "x-credpool-session", 0)).toBe(200);
    }
    for (let index = 1; index < 3; index++) expect(await turn(world, "s0", "x-credpool-session", index)).toBe(200);
    const before = keysBySession(world);
    const bound = before.get("s0")![0]!;
    expect(before.get("s0")).toEqual([bound, bound, bound]);
    expect(before.get("s3")).toEqual([bound]);
    const requestsBefore = world.upstream.requests.length;

    world.upstream.script(bound, { type: "status", status: 429, headers: { "retry-after": "60" } });
    for (let index = 3; index < 10; index++) expect(await turn(world, "s0", "x-credpool-session", index)).toBe(200);
    // s3 is still bound to the benched key: the pool does not honour that binding while the key cools.
    for (let index = 1; index < 6; index++) expect(await turn(world, "s3", "x-credpool-session", index)).toBe(200);

    const after = keysBySession(world);
    const s0 = after.get("s0")!.slice(3);
    // The first turn after the bench met the 429 and was served by another key in the same request ...
    expect(s0[0]).toBe(bound);
    const moved = s0[1];
    expect(moved).not.toBe(bound);
    // ... which keeps the session from then on: round robin alone would alternate between the two keys left.
    expect(s0.slice(1)).toEqual(Array(7).fill(moved));
    const s3 = after.get("s3")!.slice(1);
    expect(s3[0]).not.toBe(bound);
    expect(s3).toEqual(Array(5).fill(s3[0]));
    // The benched key was asked once after the bench (the 429) and never again.
    expect(world.upstream.requests.slice(requestsBefore).filter((request) => request.key === bound)).toHaveLength(1);
    const label = `key${KEYS.indexOf(bound as (typeof KEYS)[number]) + 1}`;
    expect(benchedForSeconds(await world.credential(label), MODEL)).toBeGreaterThan(30);
  });

  it("sends a session's request elsewhere while its key is at its maxConcurrent cap", async () => {
    world = await startProxyWorld({
      credentials: threeKeys({ maxConcurrent: 1 }),
      strategies: { anthropic: "round_robin" },
    });
    expect(await turn(world, "s0", "x-credpool-session", 0)).toBe(200);
    const [bound] = keysBySession(world).get("s0")!;
    // The gateway releases a lease just after the answer's last byte: wait until the first turn's slot is free.
    const label = `key${KEYS.indexOf(bound as (typeof KEYS)[number]) + 1}`;
    for (let polls = 0; ((await world.credential(label)).leases ?? []).length > 0; polls++) {
      if (polls > 500) throw new Error(`${label} kept its first lease`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The bound key's next answer takes a while, so its one slot is held when the session's next request comes.
    world.upstream.script(bound!, { type: "ok", delayMs: 1500 });
    const slow = turn(world, "s0", "x-credpool-session", 1);
    await world.upstream.waitFor(() => world!.upstream.requests.length === 2);
    expect(await turn(world, "s0", "x-credpool-session", 2)).toBe(200);
    expect(await slow).toBe(200);
    const keys = keysBySession(world).get("s0")!;
    expect(keys.slice(0, 2)).toEqual([bound, bound]);
    expect(keys[2]).not.toBe(bound);
  });
});
