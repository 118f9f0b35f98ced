// How the PostgreSQL backend fails: each failure is a PoolError with its own code, names the server but never the
// password, applies nothing, reaches every caller in the batch, and the next update works. Faults are real server
// behaviour, switched on by a trigger in the suite's own schema, or pg_terminate_backend on a live connection.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPoolError, type DocumentChange, type PoolDocument } from "@credpool/pool-core";
import { createPostgresBackend, type PostgresBackendOptions } from "@credpool/pool-postgres";
import { PG_AVAILABLE, PG_URL, dropSchema, sql, uniqueSchema } from "./pg-server.js";

const schema = uniqueSchema("failures");

type Fault = "none" | "hang" | "serialize";

async function setFault(mode: Fault): Promise<void> {
  await sql(`UPDATE "${schema}".fault SET mode = $1`, [mode]);
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

/** Waits until a credpool connection (or its listener) ran a statement that matches `pattern`; returns its pid. */
async function activePid(pattern: string, application = "credpool"): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const result = await sql<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $2 AND query LIKE $1 AND pid <> pg_backend_pid()`,
      [pattern, application],
    );
    if (result.rows[0]) return result.rows[0].pid;
    await sleep(20);
  }
  throw new Error(`no credpool connection ran ${pattern}`);
}

describe.skipIf(!PG_AVAILABLE)("postgres backend failures", () => {
  let document = 0;
  const open = (extra: Partial<PostgresBackendOptions> = {}) =>
    createPostgresBackend({ url: PG_URL, schema, document: `doc-${++document}`, ...extra });

  beforeAll(async () => {
    const setup = createPostgresBackend({ url: PG_URL, schema });
    await setup.migrate();
    await setup.close();
    await sql(`CREATE TABLE "${schema}".fault (mode text NOT NULL); INSERT INTO "${schema}".fault VALUES ('none');
      CREATE SEQUENCE "${schema}".attempts;
      CREATE FUNCTION "${schema}".inject() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE m text;
      BEGIN
        SELECT mode INTO m FROM "${schema}".fault;
        IF m = 'hang' THEN PERFORM pg_sleep(30); END IF;
        IF m = 'serialize' THEN
          PERFORM nextval('"${schema}".attempts');
          RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER inject BEFORE UPDATE ON "${schema}".documents FOR EACH ROW EXECUTE FUNCTION "${schema}".inject();`);
  });
  afterAll(() => dropSchema(schema));

  it("validates its options before any I/O, naming the field", () => {
    expect(() => createPostgresBackend({ url: "mysql://x", schema })).toThrow(/url/);
    expect(() => createPostgresBackend({ url: PG_URL, schema: "Bad-Name" })).toThrow(/schema/);
    expect(() => createPostgresBackend({ url: PG_URL, schema, lockTtl: 5 } as never)).toThrow(/lockTtl/);
  });

  it("a refused connection is E_STORE_UNAVAILABLE naming the server and never the password", async () => {
    const backend = createPostgresBackend({ url: "postgres://alice:hunter2secret@127.0.0.1:1/test", schema });
    try {
      for (const attempt of [backend.read(), backend.update(() => undefined), backend.lock("refresh:x")]) {
        const error = await rejection(attempt);
        expect(isPoolError(error, "E_STORE_UNAVAILABLE"), String(error)).toBe(true);
        expect(error.message).toContain("127.0.0.1:1");
        expect(error.message).not.toContain("hunter2secret");
        expect(JSON.stringify((error as { details?: unknown }).details)).not.toContain("hunter2secret");
      }
      expect(backend.location).not.toContain("hunter2secret");
    } finally {
      await backend.close();
    }
  });

  it("a connection dropped mid-transaction fails the whole batch with E_STORE_CONNECTION_LOST, applies nothing, and the next update works", async () => {
    const backend = open();
    try {
      await backend.update((draft) => {
        draft.items = [0];
      });
      await setFault("hang");
      const batch = [1, 2, 3].map((n) =>
        rejection(
          backend.update((draft) => {
            draft.items = [...(draft.items as number[]), n];
          }),
        ),
      );
      await sql("SELECT pg_terminate_backend($1)", [await activePid(`UPDATE "${schema}".documents%`)]);
      await setFault("none");
      for (const error of await Promise.all(batch)) {
        expect(isPoolError(error, "E_STORE_CONNECTION_LOST"), String(error)).toBe(true);
        expect(error.message).toContain("127.0.0.1");
      }
      const { doc, rev } = await backend.read();
      expect(rev).toBe(1);
      expect(doc.items).toEqual([0]);
      const next = await backend.update((draft) => {
        draft.items = [...(draft.items as number[]), 4];
      });
      expect(next.rev).toBe(2);
      expect(next.items).toEqual([0, 4]);
    } finally {
      await setFault("none");
      await backend.close();
    }
  });

  it("a statement past its timeout is E_STORE_TIMEOUT and applies nothing", async () => {
    const backend = open({ statementTimeoutMs: 300 });
    try {
      await backend.update((draft) => {
        draft.value = 1;
      });
      await setFault("hang");
      const error = await rejection(
        backend.update((draft) => {
          draft.value = 2;
        }),
      );
      await setFault("none");
      expect(isPoolError(error, "E_STORE_TIMEOUT"), String(error)).toBe(true);
      const { doc, rev } = await backend.read();
      expect([doc.value, rev]).toEqual([1, 1]);
      expect((await backend.update((draft) => void (draft.value = 3))).rev).toBe(2);
    } finally {
      await setFault("none");
      await backend.close();
    }
  });

  it("a serialization failure is retried (it certainly did not commit) and then E_STORE_CONFLICT, applying nothing", async () => {
    const backend = open({ conflictRetries: 2 });
    try {
      await backend.update((draft) => {
        draft.value = 1;
      });
      const attempts = async (): Promise<number> =>
        Number((await sql<{ v: string }>(`SELECT nextval('"${schema}".attempts') AS v`)).rows[0]?.v);
      const before = await attempts();
      await setFault("serialize");
      const error = await rejection(
        backend.update((draft) => {
          draft.value = 2;
        }),
      );
      await setFault("none");
      expect(isPoolError(error, "E_STORE_CONFLICT"), String(error)).toBe(true);
      // One try and two retries, each counted by the trigger between our two reads of the sequence.
      expect((await attempts()) - before - 1).toBe(3);
      const { doc, rev } = await backend.read();
      expect([doc.value, rev]).toEqual([1, 1]);
    } finally {
      await setFault("none");
      await backend.close();
    }
  });

  it("a watcher whose LISTEN connection is terminated reconnects, re-reads and converges without the poll", async () => {
    const name = `doc-${++document}`;
    const watcher = createPostgresBackend({ url: PG_URL, schema, document: name, pollIntervalMs: 3_600_000 });
    const writer = createPostgresBackend({ url: PG_URL, schema, document: name });
    const seen: DocumentChange<PoolDocument>[] = [];
    const stop = watcher.watch((change) => seen.push(change));
    try {
      await writer.update((draft) => void (draft.value = 1));
      for (let i = 0; i < 500 && !seen.some((c) => c.rev === 1); i++) await sleep(10);
      expect(seen.at(-1)?.rev).toBe(1);
      // Commit while the listener is gone: its notification is lost, so only the re-read on reconnect finds it.
      // The listener also re-reads the row on its own connection, so its last statement may be that SELECT.
      await sql("SELECT pg_terminate_backend($1)", [await activePid(`%${schema}%`, "credpool listener")]);
      await writer.update((draft) => void (draft.value = 2));
      for (let i = 0; i < 500 && !seen.some((c) => c.rev === 2); i++) await sleep(10);
      expect(seen.at(-1)).toMatchObject({ rev: 2, previousRev: 1 });
      expect(seen.at(-1)?.doc.value).toBe(2);
    } finally {
      stop();
      await watcher.close();
      await writer.close();
    }
  });
});
