// Forward compatibility: an older build must not strip fields that a newer build wrote.
import { readFile, rename, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createFileBackend, isPoolError } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

/** A document as a newer credpool might write it: v1 shape plus fields this version has never heard of. */
function newerBuildDocument(): Record<string, unknown> {
  return {
    schemaVersion: 1,
    rev: 7,
    updatedAt: "2026-01-01T00:00:00.000Z",
    futureTopLevel: { policy: "spread", weights: [1, 2, 3] },
    providers: {
      anthropic: {
        strategy: "round_robin",
        cursor: 2,
        futureProviderField: { region: "eu" },
        credentials: [
          {
            id: "claude-1",
            label: "work",
            provider: "anthropic",
            kind: "oauth",
            priority: 1,
            source: "claude-code",
            futureCredentialField: ["a", "b"],
            secrets: {
              accessToken: "at-fake",
              refreshToken: "rt-fake",
              expiresAt: 1_900_000_000_000,
              futureSecretField: "dpop-key-fake",
            },
            tokenGeneration: 3,
            status: { state: "exhausted", until: 1_900_000_000_000, futureStatusField: { tier: "max" } },
            usage: { requests: 10, failures: 1, futureUsageField: 99 },
            leases: [{ id: "lease-1", startedAt: 1, expiresAt: 2, futureLeaseField: true }],
          },
        ],
      },
    },
  };
}

describe("forward compatibility", () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  it("keeps unknown fields at the top level and inside providers, credentials, secrets, status, usage and leases", async () => {
    dir = await createTempDir();
    const pool = dir.file("pool.json");
    const original = newerBuildDocument();
    await writeFile(pool, JSON.stringify(original, null, 2), { mode: 0o600 });

    const backend = createFileBackend({ path: pool });
    // Touch the very objects that carry unknown fields, the way a status change and a usage count would.
    await backend.update((draft) => {
      const credential = draft.providers.anthropic?.credentials[0];
      if (!credential) throw new Error("fixture credential missing");
      credential.status.state = "ok";
      delete credential.status.until;
      credential.usage.requests += 1;
      credential.secrets.accessToken = "at-fake-2";
      draft.providers.anthropic!.cursor = 3;
    });
    await backend.close();

    const onDisk = JSON.parse(await readFile(pool, "utf8")) as Record<string, unknown>;
    const expected = newerBuildDocument() as {
      rev: number;
      updatedAt: string;
      providers: { anthropic: { cursor: number; credentials: Array<Record<string, Record<string, unknown>>> } };
    };
    const credential = expected.providers.anthropic.credentials[0]!;
    credential.status = { state: "ok", futureStatusField: { tier: "max" } };
    credential.usage!.requests = 11;
    credential.secrets!.accessToken = "at-fake-2";
    expected.providers.anthropic.cursor = 3;
    expected.rev = 8;
    expected.updatedAt = onDisk.updatedAt as string;
    // Exactly the newer document plus our change: nothing stripped, nothing reshaped.
    expect(onDisk).toEqual(expected);
  });

  it("keeps unknown fields written by another build in between this process's updates", async () => {
    dir = await createTempDir();
    const pool = dir.file("pool.json");
    const backend = createFileBackend({ path: pool });
    await backend.update((draft) => {
      draft.mine = 1;
    });

    // A newer build commits by the same protocol (rename over the file) while this backend stays open.
    const text = JSON.parse(await readFile(pool, "utf8")) as Record<string, unknown>;
    await writeFile(`${pool}.newer`, JSON.stringify({ ...text, rev: 2, fromNewerBuild: { keep: true } }, null, 2));
    await rename(`${pool}.newer`, pool);

    const committed = await backend.update((draft) => {
      draft.mine = 2;
    });
    await backend.close();
    expect(committed.rev).toBe(3);
    const onDisk = JSON.parse(await readFile(pool, "utf8")) as Record<string, unknown>;
    expect(onDisk).toMatchObject({ rev: 3, mine: 2, fromNewerBuild: { keep: true } });
  });

  it("refuses a newer schemaVersion with E_POOL_CORRUPT instead of downgrading it, and leaves the file untouched", async () => {
    dir = await createTempDir();
    const pool = dir.file("pool.json");
    const text = JSON.stringify({ ...newerBuildDocument(), schemaVersion: 2 }, null, 2);
    await writeFile(pool, text, { mode: 0o600 });

    const backend = createFileBackend({ path: pool });
    const error = await backend
      .update((draft) => {
        draft.mine = 1;
      })
      .catch((reason: unknown) => reason);
    await backend.close();
    expect(isPoolError(error, "E_POOL_CORRUPT")).toBe(true);
    expect((error as Error).message).toContain("schemaVersion 2");
    expect((error as Error).message).toContain(pool);
    expect(await readFile(pool, "utf8")).toBe(text);
  });
});
