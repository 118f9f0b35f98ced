// One draft per commit: mutators change it in place, a failing one is rolled back, and the text is serialized once.
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileBackend, serializeDocument, type FileBackend, type PoolDocument } from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { replaceHeader } from "../../src/store/file-backend.js";

function counterOf(doc: PoolDocument, id: string): number {
  const credential = doc.providers.bench?.credentials.find((c) => c.id === id);
  return credential?.usage.requests ?? -1;
}

describe("file backend drafts", () => {
  let dir: TempDir;
  let backends: FileBackend[];

  beforeEach(async () => {
    dir = await createTempDir("draft");
    backends = [];
  });
  afterEach(async () => {
    await Promise.all(backends.map((b) => b.close()));
    await dir.remove();
  });

  function open(): FileBackend {
    const backend = createFileBackend({ path: join(dir.path, "pool.json") });
    backends.push(backend);
    return backend;
  }

  async function seed(backend: FileBackend): Promise<void> {
    await backend.update((doc) => {
      doc.providers.bench = {
        credentials: ["a", "b"].map((id) => ({
          id,
          label: id,
          provider: "bench",
          kind: "api_key" as const,
          priority: 0,
          source: "manual",
          secrets: { apiKey: `sk-${id}` },
          tokenGeneration: 0,
          status: { state: "ok" as const },
          usage: { requests: 0, failures: 0 },
        })),
      };
    });
  }

  it("rolls back a mutator that changed nested state in place before throwing; its batch-mates commit once each", async () => {
    const backend = open();
    await seed(backend);
    let firstRuns = 0;
    const failure = new Error("nested bug");
    const results = await Promise.allSettled([
      backend.update((doc) => {
        firstRuns++;
        doc.providers.bench!.credentials[0]!.usage.requests += 1;
      }),
      backend.update((doc) => {
        const b = doc.providers.bench!.credentials[1]!;
        b.usage.requests += 100;
        b.secrets.apiKey = "sk-leaked";
        throw failure;
      }),
      backend.update((doc) => {
        doc.providers.bench!.credentials[1]!.usage.requests += 1;
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toBe(failure);
    // Run again after the rollback, and the re-run is what was committed, not applied twice.
    expect(firstRuns).toBeGreaterThanOrEqual(1);
    const { doc } = await open().read();
    expect(counterOf(doc, "a")).toBe(1);
    expect(counterOf(doc, "b")).toBe(1);
    expect(doc.providers.bench!.credentials[1]!.secrets.apiKey).toBe("sk-b");
  });

  it("writes exactly the text a full serialization gives, across revs whose width changes", async () => {
    const backend = open();
    await seed(backend);
    const path = join(dir.path, "pool.json");
    for (let i = 0; i < 12; i++) {
      await Promise.all(
        [0, 1].map(() =>
          backend.update((doc) => {
            doc.providers.bench!.credentials[0]!.usage.requests += 1;
          }),
        ),
      );
      const text = await readFile(path, "utf8");
      expect(serializeDocument(JSON.parse(text))).toBe(text);
    }
    const { doc } = await open().read();
    expect(counterOf(doc, "a")).toBe(24);
    expect(doc.rev).toBeGreaterThanOrEqual(10);
  });

  it("reads the file again inside the lock when it was edited in place or replaced since its own last write", async () => {
    const backend = open();
    await seed(backend);
    const path = join(dir.path, "pool.json");
    const bump = (doc: PoolDocument): void => {
      doc.providers.bench!.credentials[0]!.usage.requests += 1;
    };
    await backend.update(bump);
    // Same size, same rev, another counter: only the file's identity can tell the edit apart.
    const edited = (await readFile(path, "utf8")).replace('"requests": 1,', '"requests": 7,');
    await writeFile(path, edited);
    expect(counterOf(await backend.update(bump), "a")).toBe(8);
    const replaced = (await readFile(path, "utf8")).replace('"requests": 8,', '"requests": 3,');
    await writeFile(`${path}.edit`, replaced);
    await rename(`${path}.edit`, path);
    expect(counterOf(await backend.update(bump), "a")).toBe(4);
    expect(counterOf((await open().read()).doc, "a")).toBe(4);
  });

  it("replaceHeader matches serializing the whole document, and falls back when the text does not fit", () => {
    const from = { schemaVersion: 1, rev: 9, updatedAt: "2026-01-01T00:00:00.000Z", providers: { x: { n: [1] } } };
    const to = { ...from, rev: 10, updatedAt: "2026-01-02T00:00:00.000Z" };
    const ordered = (d: typeof from) => ({
      schemaVersion: d.schemaVersion,
      rev: d.rev,
      updatedAt: d.updatedAt,
      providers: d.providers,
    });
    expect(replaceHeader(serializeDocument(ordered(from)), from, to)).toBe(serializeDocument(ordered(to)));
    const bare = { schemaVersion: 1, rev: 1, updatedAt: "a" };
    expect(replaceHeader(serializeDocument(bare), bare, { ...bare, rev: 2 })).toBe(
      serializeDocument({ ...bare, rev: 2 }),
    );
    // Text from something else entirely: the whole document is serialized instead.
    expect(replaceHeader("{}", from, to)).toBe(serializeDocument(ordered(to)));
  });
});
