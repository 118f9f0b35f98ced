// Many `credpool add` processes at once: every add lands, with its own id and label, because each one is a
// transaction on fresh state under the pool lock. No retries: a retry would hide the lost update this looks for.
import { createFileBackend } from "@credpool/pool-core";
import { afterAll, expect, it } from "vitest";
import { createTestPool, fixtureSecret, removeTestPool, type TestPool } from "./helpers/cli.js";

const WORKERS = 8;
const ADDS_PER_WORKER = 25;

let pool: TestPool | undefined;
afterAll(async () => {
  if (pool) await removeTestPool(pool);
});

it(
  `keeps all ${WORKERS * ADDS_PER_WORKER} credentials from ${WORKERS} processes adding in parallel`,
  { timeout: 300_000 },
  async () => {
    pool = await createTestPool();
    const testPool = pool;
    const secrets = new Set<string>();
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, worker) => {
        for (let i = 0; i < ADDS_PER_WORKER; i++) {
          const secret = fixtureSecret();
          secrets.add(secret);
          // No --label: the default label (anthropic-N) is computed inside the transaction, so it must be unique too.
          const result = await testPool.run(["add", "anthropic", "--api-key-stdin", "--json"], {
            input: secret,
            env: { CREDPOOL_LOCK_TIMEOUT_MS: "60000" },
          });
          if (result.code !== 0) failures.push(`worker ${worker} add ${i}: exit ${result.code}: ${result.stderr}`);
        }
      }),
    );
    expect(failures).toEqual([]);

    const backend = createFileBackend({ path: testPool.path, createIfMissing: false });
    const { doc } = await backend.read();
    await backend.close();
    const credentials = doc.providers.anthropic?.credentials ?? [];
    expect(credentials).toHaveLength(WORKERS * ADDS_PER_WORKER);
    expect(new Set(credentials.map((credential) => credential.id)).size).toBe(WORKERS * ADDS_PER_WORKER);
    expect(new Set(credentials.map((credential) => credential.label.toLowerCase())).size).toBe(
      WORKERS * ADDS_PER_WORKER,
    );
    expect(new Set(credentials.map((credential) => credential.secrets.apiKey))).toEqual(secrets);
    // init, then one commit per add.
    expect(doc.rev).toBe(1 + WORKERS * ADDS_PER_WORKER);
  },
);
