// `credpool store copy`: file → PostgreSQL → file is lossless, unknown fields included, and a non-empty target is
// refused without --force.
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { createTempDir } from "@credpool/pool-testkit";
import { PG_AVAILABLE, PG_URL, dropSchema, uniqueSchema } from "./pg-server.js";

const cli = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));

async function credpool(home: string, schema: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const result = await promisify(execFile)(process.execPath, [cli, ...args], {
      env: { ...process.env, CREDPOOL_HOME: home, CREDPOOL_STORE: "", CREDPOOL_STORE_SCHEMA: schema },
    });
    return { code: 0, out: result.stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout + failed.stderr };
  }
}

const pool = {
  schemaVersion: 1,
  rev: 7,
  updatedAt: "2026-11-01T10:00:00.000Z",
  futureTopLevel: { nested: [1, "two", { three: null }] },
  providers: {
    openai: {
      strategy: "round_robin",
      futureProviderField: "kept",
      credentials: [
        {
          id: "c1",
          label: "k1",
          provider: "openai",
          kind: "api_key",
          priority: 0,
          source: "manual",
          secrets: { apiKey: "sk-test-roundtrip", futureSecret: "kept" },
          tokenGeneration: 0,
          status: { state: "ok", futureStatusField: 3 },
          usage: { requests: 2, failures: 0 },
          futureCredentialField: { deep: true },
        },
      ],
    },
  },
};
const tokens = {
  schemaVersion: 1,
  rev: 2,
  updatedAt: "2026-11-01T10:00:00.000Z",
  tokens: [{ id: "t1", name: "worker", scope: "lease", hash: "ab".repeat(32), createdAt: 1 }],
  futureField: "kept",
};

describe.skipIf(!PG_AVAILABLE)("credpool store copy", () => {
  const schema = uniqueSchema("copy");
  afterAll(() => dropSchema(schema));

  it("copies file → PostgreSQL → file losslessly, unknown fields included, and refuses a non-empty target", async () => {
    const source = await createTempDir("credpool-copy-src-");
    const back = await createTempDir("credpool-copy-back-");
    try {
      await writeFile(source.file("pool.json"), JSON.stringify(pool, null, 2), { mode: 0o600 });
      await writeFile(source.file("gateway-tokens.json"), JSON.stringify(tokens, null, 2), { mode: 0o600 });

      const to = await credpool(source.path, schema, ["store", "copy", "--to", PG_URL, "--json"]);
      expect(to, to.out).toMatchObject({ code: 0 });
      // The database serves the same pool to a backend that knows nothing of the files.
      const backend = createPostgresBackend({ url: PG_URL, schema });
      const stored = await backend.read();
      await backend.close();
      expect(stored.doc).toEqual(pool);

      const again = await credpool(source.path, schema, ["store", "copy", "--to", PG_URL]);
      expect(again.code).toBe(13);
      expect(again.out).toMatch(/--force/);

      const from = await credpool(back.path, schema, ["store", "copy", "--from", PG_URL]);
      expect(from, from.out).toMatchObject({ code: 0 });
      expect(JSON.parse(await readFile(back.file("pool.json"), "utf8"))).toEqual(pool);
      expect(JSON.parse(await readFile(back.file("gateway-tokens.json"), "utf8"))).toEqual(tokens);

      const refused = await credpool(back.path, schema, ["store", "copy", "--from", PG_URL]);
      expect(refused.code).toBe(13);
      const forced = await credpool(back.path, schema, ["store", "copy", "--from", PG_URL, "--force"]);
      expect(forced, forced.out).toMatchObject({ code: 0 });
      // A forced overwrite lands above the rev that was there, so rev never goes back.
      expect((JSON.parse(await readFile(back.file("pool.json"), "utf8")) as { rev: number }).rev).toBe(8);

      const argvPassword = await credpool(back.path, schema, [
        "store",
        "copy",
        "--to",
        "postgres://u:hunter2@127.0.0.1/test",
      ]);
      expect(argvPassword.code).toBe(2);
      expect(argvPassword.out).not.toContain("hunter2");
    } finally {
      await source.remove();
      await back.remove();
    }
  });

  it("keeps config.json's store.schema when CREDPOOL_STORE or --store gives the URL", async () => {
    const configured = uniqueSchema("configured");
    const home = await createTempDir("credpool-config-schema-");
    try {
      await writeFile(home.file("pool.json"), JSON.stringify(pool, null, 2), { mode: 0o600 });
      await writeFile(home.file("config.json"), JSON.stringify({ store: { schema: configured } }), { mode: 0o600 });
      // No CREDPOOL_STORE_SCHEMA here: the schema comes from config.json alone.
      const run = async (env: Record<string, string>, args: string[]) => {
        const { CREDPOOL_STORE_SCHEMA: _ignored, ...inherited } = process.env;
        try {
          const result = await promisify(execFile)(process.execPath, [cli, ...args], {
            env: { ...inherited, CREDPOOL_HOME: home.path, CREDPOOL_STORE: "", ...env },
          });
          return { code: 0, out: result.stdout };
        } catch (error) {
          const failed = error as { code: number; stdout: string; stderr: string };
          return { code: failed.code, out: failed.stdout + failed.stderr };
        }
      };
      const copied = await run({}, ["store", "copy", "--to", PG_URL, "--json"]);
      expect(copied, copied.out).toMatchObject({ code: 0 });

      const viaEnv = await run({ CREDPOOL_STORE: PG_URL }, ["list", "--json"]);
      expect(viaEnv, viaEnv.out).toMatchObject({ code: 0 });
      expect(viaEnv.out).toContain('"c1"');
      const viaFlag = await run({}, ["--store", PG_URL, "list", "--json"]);
      expect(viaFlag, viaFlag.out).toMatchObject({ code: 0 });
      expect(viaFlag.out).toContain('"c1"');
    } finally {
      await home.remove();
      await dropSchema(configured);
    }
  });
});
