// The PostgreSQL backend with real processes: no lost update, single-flight refresh through two gateways on two
// "hosts" (issue 14, test 3), a SIGKILL loop, and a SIGSTOPped lock holder whose late commit is refused.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { findCredential, fingerprintToken, refreshStateOf, type Credential } from "@credpool/pool-core";
import { createTokenStore } from "@credpool/pool-gateway";
import { createPostgresBackend, createPostgresDocumentStore } from "@credpool/pool-postgres";
import { createTempDir, spawnChild, startFakeTokenServer, startTogether } from "@credpool/pool-testkit";
import { findSecretLines, startGatewayProcess } from "../gateway/gateway-process.js";
import { PG_AVAILABLE, PG_URL, dropSchema, uniqueSchema } from "./pg-server.js";

const counterWriter = fileURLToPath(new URL("../children/counter-writer.mjs", import.meta.url));
const loopWriter = fileURLToPath(new URL("../children/loop-writer.mjs", import.meta.url));
const gatewayLeaser = fileURLToPath(new URL("../children/gateway-leaser.mjs", import.meta.url));
const lockHolder = fileURLToPath(new URL("../children/pg-lock-holder.mjs", import.meta.url));

describe.skipIf(!PG_AVAILABLE)("postgres backend across processes", () => {
  const schemas: string[] = [];
  function freshSchema(): string {
    const schema = uniqueSchema("procs");
    schemas.push(schema);
    return schema;
  }
  afterAll(async () => {
    await Promise.all(schemas.map((schema) => dropSchema(schema)));
  });

  it("loses no update: 8 processes x 250 updates end at 2000 and each value 0..1999 was read exactly once", async () => {
    const schema = freshSchema();
    const children = Array.from({ length: 8 }, () =>
      spawnChild(counterWriter, ["--pg-url", PG_URL, "--pg-schema", schema, "--updates", "250", "--concurrency", "8"]),
    );
    await startTogether(children);
    const results = await Promise.all(
      children.map((child) => child.waitFor<{ done: boolean; values: number[] }>((m) => m.done, 120_000)),
    );
    const exits = await Promise.all(children.map((child) => child.exited));
    expect(
      exits.every((exit) => exit.code === 0),
      children.map((c) => c.stderr()).join("\n"),
    ).toBe(true);

    const values = results.flatMap((result) => result.values).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    const backend = createPostgresBackend({ url: PG_URL, schema });
    try {
      const { doc, rev } = await backend.read();
      expect(doc.counter).toBe(2000);
      // Group commit: updates shared transactions, so there were fewer commits (revs) than updates.
      expect(rev).toBeLessThan(2000);
    } finally {
      await backend.close();
    }
  });

  it("16 leasing processes split across two gateways on two homes make exactly one token call and all get the same new token", async () => {
    const schema = freshSchema();
    const server = await startFakeTokenServer({ latencyMs: 150 });
    const dir = await createTempDir("credpool-pg-hosts-");
    const backend = createPostgresBackend({ url: PG_URL, schema });
    try {
      const tokens = server.issue();
      const credential: Credential = {
        id: "cred1",
        label: "work",
        provider: "anthropic",
        kind: "oauth",
        priority: 0,
        source: "manual",
        tokenGeneration: 0,
        status: { state: "ok" },
        usage: { requests: 0, failures: 0 },
        secrets: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() - 60_000 },
      };
      await backend.update((doc) => {
        doc.providers.anthropic = { credentials: [credential] };
      });
      // Two "hosts": each has its own CREDPOOL_HOME and HOME; only the database is shared.
      const hostEnv = async (host: string): Promise<NodeJS.ProcessEnv> => {
        const home = join(dir.path, host);
        await mkdir(join(home, "home", ".claude"), { recursive: true });
        await mkdir(join(home, "home", ".codex"), { recursive: true });
        return {
          HOME: join(home, "home"),
          CREDPOOL_HOME: home,
          CLAUDE_CONFIG_DIR: join(home, "home", ".claude"),
          CODEX_HOME: join(home, "home", ".codex"),
          CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl,
          CREDPOOL_OPENAI_TOKEN_URL: server.tokenUrl,
          ANTHROPIC_API_KEY: "",
          OPENAI_API_KEY: "",
          OPENROUTER_API_KEY: "",
          CREDPOOL_ENV_SOURCES: "",
        };
      };
      const envs = [await hostEnv("host-a"), await hostEnv("host-b")];
      const store = { CREDPOOL_STORE: PG_URL, CREDPOOL_STORE_SCHEMA: schema };
      const gateways = await Promise.all(
        envs.map((env) => startGatewayProcess(join(env.CREDPOOL_HOME as string, "pool.json"), { ...env, ...store })),
      );
      // One lease token, made in the database, so both gateways accept it.
      const documents = createPostgresDocumentStore({ url: PG_URL, schema });
      const tokenStore = createTokenStore({ dir: dir.path, documents });
      const bearer = (await tokenStore.create("leasers", "lease")).token;
      await tokenStore.close();
      const children = Array.from({ length: 16 }, (_, i) =>
        spawnChild(gatewayLeaser, ["--url", gateways[i % 2]!.url, "--token", bearer]),
      );
      try {
        await startTogether(children);
        const results = await Promise.all(
          children.map((child) =>
            child.waitFor<{ leased: boolean; token?: string; message?: string }>(
              (m) => typeof m.leased === "boolean",
              45_000,
            ),
          ),
        );
        expect(results.filter((r) => !r.leased)).toEqual([]);
        expect(server.calls).toHaveLength(1);
        server.assertNoReuse();
        const issued = server.current(tokens.family);
        expect(new Set(results.map((r) => r.token))).toEqual(new Set([issued.accessToken]));
        const stored = findCredential((await backend.read()).doc, "cred1");
        expect(stored?.tokenGeneration).toBe(1);
        expect(stored?.secrets.refreshToken).toBe(issued.refreshToken);
        expect(refreshStateOf(stored as Credential).usedTokenFps).toEqual([fingerprintToken(tokens.refreshToken)]);
        for (const gateway of gateways) {
          expect(findSecretLines(gateway.child, [issued.accessToken, issued.refreshToken, bearer])).toEqual([]);
        }
      } finally {
        for (const child of children) child.kill("SIGKILL");
        await Promise.all(children.map((child) => child.exited));
        for (const gateway of gateways) gateway.child.kill("SIGKILL");
        await Promise.all(gateways.map((gateway) => gateway.child.exited));
      }
    } finally {
      await backend.close();
      await server.close();
      await dir.remove();
    }
  });

  it("SIGKILL loop: a writer killed mid-stream 20 times never sends rev back nor leaves a partial document", async () => {
    const schema = freshSchema();
    const backend = createPostgresBackend({ url: PG_URL, schema });
    const padding = 16 * 1024;
    let lastRev = 0;
    try {
      for (let round = 0; round < 20; round++) {
        const child = spawnChild(loopWriter, ["--pg-url", PG_URL, "--pg-schema", schema, "--padding", String(padding)]);
        const closed = new Promise<void>((resolve) => child.process.once("close", () => resolve()));
        await child.waitFor<{ ready?: boolean }>((m) => m.ready === true);
        child.send("go");
        await child.waitFor<{ rev?: number }>((m) => typeof m.rev === "number");
        await sleep(Math.random() * 50);
        child.kill("SIGKILL");
        await closed;
        expect((await child.exited).signal, child.stderr()).toBe("SIGKILL");
        const acknowledged = Math.max(...child.messages.map((m) => (m as { rev?: number }).rev ?? 0), lastRev);
        const { doc, rev } = await backend.read();
        // Every acknowledged commit is there, rev never went back, and the document is whole.
        expect(rev).toBeGreaterThanOrEqual(acknowledged);
        expect(rev).toBeGreaterThanOrEqual(lastRev);
        expect(doc.counter).toBe(rev);
        expect((doc.padding as string).length).toBe(padding);
        lastRev = rev;
      }
      // The next writer commits right after the last kill: nothing the dead one held is left locked. A COMMIT the
      // killed writer had already sent may still be applied by the server after the read above (committed, never
      // acknowledged), so the new rev is one or two past the last one read, and the document is still whole.
      const after = await backend.update((draft) => {
        draft.counter = (draft.counter as number) + 1;
      });
      expect([lastRev + 1, lastRev + 2]).toContain(after.rev);
      expect(after.counter).toBe(after.rev);
    } finally {
      await backend.close();
    }
  });

  it("a lock holder SIGSTOPped past the TTL loses the lock to another process, and its late CAS commit is refused", async () => {
    const schema = freshSchema();
    const ttl = 1000;
    const backend = createPostgresBackend({ url: PG_URL, schema, lockTtlMs: ttl });
    const holder = spawnChild(lockHolder, ["--pg-url", PG_URL, "--pg-schema", schema, "--lock-ttl", String(ttl)]);
    try {
      await holder.waitFor<{ locked?: boolean }>((m) => m.locked === true);
      holder.kill("SIGSTOP");
      // While the holder is paused nobody renews its lease; the lock is taken over once it expires.
      const taken = await backend.lock("refresh:cred1", { timeoutMs: 20_000 });
      await backend.update((draft) => {
        draft.tokenGeneration = ((draft.tokenGeneration as number | undefined) ?? 0) + 1;
        draft.token = "from-new-holder";
      });
      holder.kill("SIGCONT");
      // Give the woken holder's renewal timer a turn before it commits, as a real refresh's network wait would.
      await sleep(ttl);
      holder.send("commit");
      const outcome = await holder.waitFor<{ applied: boolean; lockLost: boolean; code?: string }>(
        (m) => typeof m.applied === "boolean",
      );
      expect(outcome).toMatchObject({ applied: false, lockLost: true, code: "E_LOCK_COMPROMISED" });
      const { doc } = await backend.read();
      expect(doc.token).toBe("from-new-holder");
      expect(doc.tokenGeneration).toBe(1);
      await taken.release();
    } finally {
      holder.kill("SIGKILL");
      await holder.exited;
      await backend.close();
    }
  });
});
