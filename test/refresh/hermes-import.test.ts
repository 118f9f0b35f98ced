// Importing a hermes-agent auth.json credential_pool: three providers, priorities, exhausted and dead entries, and
// the entries that must not be imported (a mirror of Claude Code's own file, a key hermes only references).
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileBackend, listCredentials, syncSources, type FileBackend } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

const fixture = fileURLToPath(new URL("./fixtures/hermes-auth.json", import.meta.url));
/** The fixture's timestamps are fixed; "now" is pinned so future and past resets stay what they are. */
const NOW = Date.parse("2026-03-01T12:00:00Z");

describe("hermes import", () => {
  let dir: TempDir;
  let backend: FileBackend;
  beforeEach(async () => {
    dir = await createTempDir();
    backend = createFileBackend({ path: dir.file("pool.json") });
  });
  afterEach(async () => {
    await backend.close();
    await dir.remove();
  });

  it("maps entries, priorities and statuses of three providers, and skips what must not be copied", async () => {
    const result = await syncSources(backend, [{ kind: "hermes", path: fixture }], { env: {}, now: () => NOW });
    expect(result.committed).toBe(true);
    expect(result.errors).toEqual([]);
    const skipped = result.readings[0]?.skipped ?? [];
    expect(skipped.map((entry) => entry.label).sort()).toEqual([
      "anthropic/claude_code",
      "openrouter/OPENROUTER_API_KEY",
      "photon",
    ]);
    expect(skipped.find((entry) => entry.label === "anthropic/claude_code")?.reason).toContain(
      "credpool import claude-code",
    );

    const doc = (await backend.read()).doc;
    expect(doc.rev).toBe(1);
    const anthropic = listCredentials(doc, "anthropic");
    expect(anthropic.map((c) => [c.label, c.kind, c.priority])).toEqual([
      ["max-plan", "oauth", 0],
      ["team-key", "api_key", 1],
    ]);
    expect(anthropic[0]).toMatchObject({
      source: "hermes",
      hermesId: "a1b2c3",
      hermesSource: "hermes_pkce",
      baseUrl: "https://api.anthropic.com",
      secrets: {
        accessToken: "sk-ant-oat01-FAKE-max-plan-access",
        refreshToken: "sk-ant-ort01-FAKE-max-plan-refresh",
        expiresAt: 1772370000000,
      },
      status: { state: "ok" },
      usage: { requests: 412, failures: 0 },
    });
    // Benched until hermes's reset time (epoch seconds in the file).
    expect(anthropic[1]?.status).toMatchObject({
      state: "exhausted",
      until: 1772368200000,
      reason: "rate_limit",
      httpStatus: 429,
    });
    expect(anthropic[1]?.secrets).toEqual({ apiKey: "sk-ant-api03-FAKE-team-key" });

    const codex = listCredentials(doc, "openai-codex");
    expect(codex.map((c) => [c.label, c.priority, c.status.state])).toEqual([
      ["chatgpt-pro", 0, "dead"],
      ["chatgpt-plus", 1, "ok"],
    ]);
    expect(codex[0]?.status).toMatchObject({
      reason: "token_invalidated",
      httpStatus: 401,
      since: Date.parse("2026-02-28T10:00:00Z"),
      message: "Marked dead in hermes: Your authentication token has been invalidated.",
    });
    // An expired token's expiry comes from its JWT; a bench that already ran out in hermes is simply available.
    expect(codex[1]?.secrets.expiresAt).toBe(1772370000000);

    const openrouter = listCredentials(doc, "openrouter");
    expect(openrouter).toHaveLength(1);
    // No reset time: hermes's own one-hour bench from when it happened.
    expect(openrouter[0]?.status).toMatchObject({
      state: "exhausted",
      reason: "billing",
      until: 1772364000000 + 3_600_000,
    });
    expect(openrouter[0]?.label).toBe("or-main");

    // Import only, once: running it again adds nothing.
    const again = await syncSources(backend, [{ kind: "hermes", path: fixture }], { env: {}, now: () => NOW });
    expect(again.committed).toBe(false);
    expect((await backend.read()).rev).toBe(1);
  });
});
