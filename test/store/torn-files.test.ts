// Failure 4 (wiped pools): a torn or garbled file is an error that names the file, never "empty", and is never
// overwritten. Every prefix is checked, because any one of them being read as valid would be a wipe.
import { readFile, readdir, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { PoolError, createFileBackend, serializeDocument, type FileBackend } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

const API_KEY = "sk-test-torn-9c41e7d2b8a6";
const REFRESH_TOKEN = "rt-test-torn-5f0b93c1de47";

/** Windows of file content long enough to be a leak if they showed up in an error message. */
function contentWindows(content: string): Set<string> {
  const windows = new Set<string>();
  for (let i = 0; i + 8 <= content.length; i++) {
    const window = content.slice(i, i + 8);
    // Whitespace and NUL runs say nothing about the content.
    if (!/[\s\0]/.test(window)) windows.add(window);
  }
  return windows;
}

describe("torn and garbled pool files", () => {
  let dir: TempDir;
  let backend: FileBackend;
  let pool: string;
  let valid: string;

  afterEach(async () => {
    await backend?.close();
    await dir?.remove();
  });

  async function setUp(): Promise<void> {
    dir = await createTempDir();
    pool = dir.file("pool.json");
    backend = createFileBackend({ path: pool, staleMs: 2000 });
    await backend.update((doc) => {
      doc.providers.anthropic = {
        strategy: "round_robin",
        credentials: [
          {
            id: "cred-a",
            label: "work account",
            provider: "anthropic",
            kind: "api_key",
            priority: 0,
            source: "manual",
            secrets: { apiKey: API_KEY },
            tokenGeneration: 0,
            status: { state: "ok" },
            usage: { requests: 3, failures: 0 },
          },
          {
            id: "cred-b",
            label: "oauth account",
            provider: "anthropic",
            kind: "oauth",
            priority: 1,
            source: "claude-code",
            secrets: { accessToken: "at-test-torn-1d2e3f", refreshToken: REFRESH_TOKEN, expiresAt: 1_900_000_000_000 },
            tokenGeneration: 2,
            status: { state: "exhausted", until: 1_900_000_000_000, reason: "rate_limit" },
            usage: { requests: 7, failures: 1 },
          },
        ],
      };
    });
    valid = await readFile(pool, "utf8");
    // The store writes its own serialization, so this is exactly what a torn write would be a prefix of.
    expect(valid).toBe(serializeDocument(JSON.parse(valid)));
  }

  /** Puts `content` in place, then checks both entry points refuse it and leave the directory as it was. */
  async function expectRefused(content: Buffer | string, label: string): Promise<void> {
    await writeFile(pool, content);
    const before = await readFile(pool);
    const namesBefore = (await readdir(dir.path)).sort();
    const windows = contentWindows(before.toString("utf8"));

    const readError: unknown = await backend.read().then(
      () => null,
      (error: unknown) => error,
    );
    let mutatorRan = false;
    const updateError: unknown = await backend
      .update((doc) => {
        mutatorRan = true;
        doc.marker = "must not land";
      })
      .then(
        () => null,
        (error: unknown) => error,
      );

    for (const [where, error] of [
      ["read()", readError],
      ["update()", updateError],
    ] as const) {
      expect(error, `${label}: ${where}`).toBeInstanceOf(PoolError);
      const poolError = error as PoolError;
      expect(poolError.code, `${label}: ${where}`).toBe("E_POOL_CORRUPT");
      expect(poolError.message, `${label}: ${where}`).toContain(pool);
      const leaked = [...windows].filter((window) => poolError.message.includes(window));
      expect(leaked, `${label}: ${where} echoes file content`).toEqual([]);
    }
    expect(mutatorRan, label).toBe(false);
    // Byte for byte, and no backup, temp file or lock left beside it.
    expect((await readFile(pool)).equals(before), `${label}: file changed`).toBe(true);
    expect((await readdir(dir.path)).sort(), label).toEqual(namesBefore);
  }

  it("rejects every truncated prefix with E_POOL_CORRUPT from read() and update() and leaves the file untouched", async () => {
    await setUp();
    const bytes = Buffer.from(valid, "utf8");
    expect(bytes.length).toBeGreaterThan(300);
    for (let length = 0; length < bytes.length; length++) {
      await expectRefused(bytes.subarray(0, length), `prefix of ${length}/${bytes.length} bytes`);
    }
  });

  it("rejects a zero-filled file of the same length with E_POOL_CORRUPT and leaves it untouched", async () => {
    await setUp();
    await expectRefused(Buffer.alloc(Buffer.byteLength(valid)), "zero-filled");
  });

  it("rejects a valid document followed by a garbage tail with E_POOL_CORRUPT and leaves it untouched", async () => {
    await setUp();
    await expectRefused(`${valid}\n{"secrets":{"apiKey":"${API_KEY}"}} trailing-garbage`, "garbage tail");
    await expectRefused(`${valid}\u0000\u0000\u0000\u0000`, "NUL tail");
    // Torn mid-document with other bytes in place of the rest: here V8's own message quotes the file around
    // the bad byte, so this is the case that proves the store strips it.
    const middle = valid.indexOf(`"${REFRESH_TOKEN}"`);
    await expectRefused(`${valid.slice(0, middle)}#${REFRESH_TOKEN}-garbage-tail`, "garbage in place of the tail");
  });

  it("still accepts the untouched valid document, so the refusals above are about the damage", async () => {
    await setUp();
    await writeFile(pool, valid);
    const { doc } = await backend.read();
    expect(doc.providers.anthropic?.credentials).toHaveLength(2);
    const committed = await backend.update((draft) => {
      draft.marker = "landed";
    });
    expect(committed.rev).toBe(doc.rev + 1);
  });
});
