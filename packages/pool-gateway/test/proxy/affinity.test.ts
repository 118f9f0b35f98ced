// Where a request's session key comes from, and how long and how many bindings are kept. The clock is injected.
import { describe, expect, it } from "vitest";
import { createSessionAffinity, sessionKeyOf } from "../../src/proxy/affinity.js";

const JSON_TYPE = "application/json";

function body(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

describe("sessionKeyOf", () => {
  const all = {
    metadata: { user_id: "user_abc_account__session_1111" },
    prompt_cache_key: "pck-1",
    user: "end-user-1",
  };

  it("takes x-credpool-session, then Claude Code's header, then metadata.user_id, prompt_cache_key, user", () => {
    const headers = { "x-credpool-session": "mine", "x-claude-code-session-id": "cc-uuid" };
    expect(sessionKeyOf(headers, body(all), JSON_TYPE)).toEqual({ source: "x-credpool-session", value: "mine" });
    expect(sessionKeyOf({ "x-claude-code-session-id": "cc-uuid" }, body(all), JSON_TYPE)).toEqual({
      source: "x-claude-code-session-id",
      value: "cc-uuid",
    });
    expect(sessionKeyOf({}, body(all), JSON_TYPE)).toEqual({
      source: "metadata.user_id",
      value: "user_abc_account__session_1111",
    });
    expect(sessionKeyOf({}, body({ ...all, metadata: {} }), JSON_TYPE)).toEqual({
      source: "prompt_cache_key",
      value: "pck-1",
    });
    expect(sessionKeyOf({}, body({ user: "end-user-1" }), JSON_TYPE)).toEqual({ source: "user", value: "end-user-1" });
  });

  it("finds no session without any of them, in a body that is not JSON, or in values that are not strings", () => {
    expect(sessionKeyOf({}, body({ model: "m", messages: [] }), JSON_TYPE)).toBeUndefined();
    expect(sessionKeyOf({}, Buffer.from("{not json"), JSON_TYPE)).toBeUndefined();
    expect(sessionKeyOf({}, body(all), "text/plain")).toBeUndefined();
    expect(sessionKeyOf({}, Buffer.alloc(0), JSON_TYPE)).toBeUndefined();
    expect(sessionKeyOf({}, body({ metadata: { user_id: 7 }, user: ["x"] }), JSON_TYPE)).toBeUndefined();
    expect(sessionKeyOf({ "x-credpool-session": "  " }, body({}), JSON_TYPE)).toBeUndefined();
    expect(sessionKeyOf({}, body({ user: "x".repeat(5000) }), JSON_TYPE)).toBeUndefined();
  });
});

describe("createSessionAffinity", () => {
  const session = { source: "x-credpool-session", value: "s1" } as const;

  it("keeps a binding while it is used within the TTL, and forgets it after a TTL unused", () => {
    let clock = 0;
    const affinity = createSessionAffinity({ ttlMs: 1000, maxSessions: 10, now: () => clock });
    const key = affinity.bindingKey("anthropic", "client-1", session);
    affinity.bind(key, "cred-a");
    for (let step = 0; step < 5; step++) {
      clock += 900;
      expect(affinity.preferred(key)).toBe("cred-a");
    }
    clock += 1000;
    expect(affinity.preferred(key)).toBeUndefined();
    expect(affinity.size).toBe(0);
  });

  it("namespaces bindings by route and client token", () => {
    const affinity = createSessionAffinity({ ttlMs: 1000, maxSessions: 10 });
    const keys = [
      affinity.bindingKey("anthropic", "client-1", session),
      affinity.bindingKey("anthropic", "client-2", session),
      affinity.bindingKey("openai", "client-1", session),
    ];
    expect(new Set(keys).size).toBe(3);
    affinity.bind(keys[0]!, "cred-a");
    expect(affinity.preferred(keys[1]!)).toBeUndefined();
    expect(affinity.preferred(keys[2]!)).toBeUndefined();
    expect(affinity.preferred(keys[0]!)).toBe("cred-a");
  });

  it("keeps at most maxSessions bindings, dropping the least recently used", () => {
    const affinity = createSessionAffinity({ ttlMs: 60_000, maxSessions: 3 });
    for (const name of ["a", "b", "c"]) affinity.bind(name, `cred-${name}`);
    expect(affinity.preferred("a")).toBe("cred-a");
    affinity.bind("d", "cred-d");
    expect(affinity.size).toBe(3);
    expect(affinity.preferred("b")).toBeUndefined();
    expect(["a", "c", "d"].map((name) => affinity.preferred(name))).toEqual(["cred-a", "cred-c", "cred-d"]);
  });

  it("rebinds a session to the credential leased last, and forgets it", () => {
    const affinity = createSessionAffinity({ ttlMs: 60_000, maxSessions: 3 });
    affinity.bind("s", "cred-a");
    affinity.bind("s", "cred-b");
    expect(affinity.preferred("s")).toBe("cred-b");
    expect(affinity.size).toBe(1);
    affinity.forget("s");
    expect(affinity.preferred("s")).toBeUndefined();
  });

  it("keeps nothing with maxSessions 0", () => {
    const affinity = createSessionAffinity({ ttlMs: 60_000, maxSessions: 0 });
    affinity.bind("s", "cred-a");
    expect(affinity.preferred("s")).toBeUndefined();
  });
});
