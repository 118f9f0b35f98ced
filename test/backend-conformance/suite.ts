// The contract every pool backend keeps. A backend's test file runs it in one line, keyv style:
//   runBackendConformance("file backend", (store) => createFileBackend({ path: join(store.dir, "pool.json") }));
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  isPoolError,
  type Credential,
  type DocumentChange,
  type Mutator,
  type PoolBackend,
  type PoolDocument,
} from "@credpool/pool-core";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";

/** One isolated store per test. */
export interface ConformanceStore {
  /** Unique per test; a database backend can use it as its pool key. */
  readonly id: string;
  /** A fresh private directory, removed after the test; backends that keep no files may ignore it. */
  readonly dir: string;
}

/**
 * Opens a handle on `store`. Every call with the same store must reach the same document, the way two processes
 * do; the suite uses a second handle wherever the contract is about "another process".
 */
export type BackendFactory = (store: ConformanceStore) => PoolBackend;

/** Guards against hangs only; no test asserts how long anything took. */
const HANG_GUARD_MS = 20_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function makeCredential(id: string, extra: Record<string, unknown> = {}): Credential {
  return {
    id,
    label: id,
    provider: "openai",
    kind: "api_key",
    priority: 0,
    source: "manual",
    secrets: { apiKey: `sk-test-${id}` },
    tokenGeneration: 0,
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
    ...extra,
  };
}

function numbersIn(doc: PoolDocument, field: string): number[] {
  return (doc[field] as number[] | undefined) ?? [];
}

/** Appends `value` to the numeric list `field`, so a lost or doubled update shows up in the final list. */
function appendTo(field: string, value: number): Mutator<PoolDocument> {
  return (draft) => {
    draft[field] = [...numbersIn(draft, field), value];
  };
}

async function expectPoolError(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isPoolError(error), `expected a PoolError ${code}, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  return error as Error;
}

/** Collects changes and resolves when one reaches `rev`. */
function recordChanges(): {
  changes: DocumentChange<PoolDocument>[];
  listener: (change: DocumentChange<PoolDocument>) => void;
  reached: (rev: number) => Promise<void>;
} {
  const changes: DocumentChange<PoolDocument>[] = [];
  const waiters = new Set<{ rev: number; resolve: () => void }>();
  return {
    changes,
    listener(change) {
      changes.push(change);
      for (const waiter of waiters) {
        if (change.rev >= waiter.rev) {
          waiters.delete(waiter);
          waiter.resolve();
        }
      }
    },
    reached(rev) {
      if (changes.some((change) => change.rev >= rev)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`watch() never reported rev ${rev}; saw ${JSON.stringify(changes.map((c) => c.rev))}`));
        }, HANG_GUARD_MS);
        waiters.add({
          rev,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

export function runBackendConformance(name: string, makeBackend: BackendFactory): void {
  describe(`backend conformance: ${name}`, () => {
    let dir: TempDir;
    let store: ConformanceStore;
    let opened: PoolBackend[];

    /** A new handle on this test's store, closed after the test. */
    function open(): PoolBackend {
      const backend = makeBackend(store);
      opened.push(backend);
      return backend;
    }

    beforeEach(async () => {
      dir = await createTempDir("credpool-conformance-");
      store = { id: `conformance-${randomUUID()}`, dir: dir.path };
      opened = [];
    });

    afterEach(async () => {
      await Promise.allSettled(opened.map((backend) => backend.close()));
      await dir.remove();
    });

    describe("read()", () => {
      it("returns an empty schema-v1 pool at rev 0 for a new store, and reading does not commit anything", async () => {
        const backend = open();
        const first = await backend.read();
        expect(first.rev).toBe(0);
        expect(first.doc).toMatchObject({ schemaVersion: 1, rev: 0, providers: {} });
        expect(typeof first.doc.updatedAt).toBe("string");
        const again = await open().read();
        expect(again.rev).toBe(0);
      });

      it("returns what another handle committed", async () => {
        await open().update(appendTo("items", 7));
        const { doc, rev } = await open().read();
        expect(rev).toBe(1);
        expect(doc.rev).toBe(1);
        expect(numbersIn(doc, "items")).toEqual([7]);
      });
    });

    describe("update()", () => {
      it("raises rev by exactly one per commit and resolves with the committed document", async () => {
        const writer = open();
        const other = open();
        for (let i = 1; i <= 5; i++) {
          // Alternate handles: the sequence is one per commit no matter who commits.
          const committed = await (i % 2 === 0 ? other : writer).update(appendTo("items", i));
          expect(committed.rev).toBe(i);
          expect(numbersIn(committed, "items")).toEqual(Array.from({ length: i }, (_, k) => k + 1));
          expect((await open().read()).rev).toBe(i);
        }
      });

      it("applies the mutator to fresh state, not to a document read earlier", async () => {
        const stale = open();
        const other = open();
        const before = await stale.read();
        expect(before.doc.counter).toBeUndefined();
        await other.update((draft) => {
          draft.counter = 41;
        });

        let seen: unknown;
        const committed = await stale.update((draft) => {
          seen = draft.counter;
          draft.counter = (draft.counter as number) + 1;
        });
        expect(seen).toBe(41);
        expect(committed.counter).toBe(42);
        expect(committed.rev).toBe(2);
      });

      it("accepts a mutator that returns a replacement document", async () => {
        const backend = open();
        const committed = await backend.update((draft) => ({ ...draft, replaced: true }));
        expect(committed.replaced).toBe(true);
        expect((await open().read()).doc.replaced).toBe(true);
      });

      it("rejects only the caller whose mutator throws; the rest of the same batch commits", async () => {
        const backend = open();
        const failure = new Error("mutator bug");
        const results = await Promise.allSettled([
          backend.update(appendTo("items", 1)),
          backend.update((draft) => {
            // A half-applied change must not leak into the commit.
            draft.items = [...numbersIn(draft, "items"), 666];
            draft.leaked = true;
            throw failure;
          }),
          backend.update(appendTo("items", 2)),
        ]);
        expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        expect((results[1] as PromiseRejectedResult).reason).toBe(failure);
        const { doc } = await open().read();
        expect(numbersIn(doc, "items").sort()).toEqual([1, 2]);
        expect(doc.leaked).toBeUndefined();
      });

      it("rejects an update that would make the document invalid with E_POOL_INVALID and commits nothing", async () => {
        const backend = open();
        await backend.update(appendTo("items", 1));
        const before = await open().read();

        const invalid = backend.update((draft) => {
          draft.items = [...numbersIn(draft, "items"), 2];
          // A credential without label, kind or provider breaks the schema.
          (draft.providers as Record<string, unknown>).openai = { credentials: [{ id: "no-kind" }] };
        });
        const error = await expectPoolError(invalid, "E_POOL_INVALID");
        expect(error.message).toMatch(/credentials/);

        const after = await open().read();
        expect(after.rev).toBe(before.rev);
        expect(after.doc).toEqual(before.doc);
      });

      it("still commits the valid updates that share a batch with an invalid one", async () => {
        const backend = open();
        const results = await Promise.allSettled([
          backend.update(appendTo("items", 1)),
          backend.update((draft) => {
            (draft as { schemaVersion: number }).schemaVersion = 99;
          }),
          backend.update(appendTo("items", 2)),
        ]);
        expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        expect(isPoolError((results[1] as PromiseRejectedResult).reason, "E_POOL_INVALID")).toBe(true);
        const { doc } = await open().read();
        expect(doc.schemaVersion).toBe(1);
        expect(numbersIn(doc, "items").sort()).toEqual([1, 2]);
      });

      it("rejects an async mutator and commits none of its changes", async () => {
        const backend = open();
        // The type allows it (a Promise is assignable to a void return), which is why the backend must check.
        const asyncMutator = async (draft: PoolDocument): Promise<void> => {
          draft.fromAsync = true;
          await Promise.resolve();
          draft.afterAwait = true;
        };
        await expectPoolError(backend.update(asyncMutator as unknown as Mutator<PoolDocument>), "E_USAGE");
        const { doc, rev } = await open().read();
        expect(doc.fromAsync).toBeUndefined();
        expect(doc.afterAwait).toBeUndefined();
        expect(rev).toBe(0);
      });

      it("rejects an async mutator that fails without leaving an unhandled rejection behind", async () => {
        const backend = open();
        const unhandled: unknown[] = [];
        const onUnhandled = (reason: unknown): void => {
          unhandled.push(reason);
        };
        process.on("unhandledRejection", onUnhandled);
        try {
          const failing = async (): Promise<void> => {
            await Promise.resolve();
            throw new Error("async mutator failed");
          };
          await expectPoolError(backend.update(failing as unknown as Mutator<PoolDocument>), "E_USAGE");
          // Unhandled rejections are reported after a macrotask turn.
          await sleep(20);
          expect(unhandled).toEqual([]);
        } finally {
          process.off("unhandledRejection", onUnhandled);
        }
      });

      it("keeps fields it does not know at every level, across updates by another handle", async () => {
        const writer = open();
        await writer.update((draft) => {
          draft.futureTopLevel = { nested: [1, 2, 3] };
          draft.providers.openai = {
            strategy: "round_robin",
            futureProviderField: "kept",
            credentials: [
              makeCredential("c1", {
                futureCredentialField: { deep: true },
                secrets: { apiKey: "sk-test-c1", futureSecret: "kept" },
                status: { state: "ok", futureStatusField: 3 },
              }),
            ],
          };
        });
        // A second handle changes something unrelated in the same credential.
        await open().update((draft) => {
          const credential = draft.providers.openai?.credentials[0];
          if (credential) credential.usage.requests += 1;
        });

        const { doc } = await open().read();
        expect(doc.futureTopLevel).toEqual({ nested: [1, 2, 3] });
        expect(doc.providers.openai?.futureProviderField).toBe("kept");
        const credential = doc.providers.openai?.credentials[0];
        expect(credential?.futureCredentialField).toEqual({ deep: true });
        expect(credential?.secrets.futureSecret).toBe("kept");
        expect(credential?.status.futureStatusField).toBe(3);
        expect(credential?.usage.requests).toBe(1);
      });

      it("applies every one of many concurrent updates from one handle and from a second one", async () => {
        const first = open();
        const second = open();
        const updates = Array.from({ length: 100 }, (_, i) =>
          (i % 2 === 0 ? first : second).update(appendTo("items", i)),
        );
        const committed = await Promise.all(updates);
        // Each caller's resolved document already holds its own change.
        committed.forEach((doc, i) => expect(numbersIn(doc, "items")).toContain(i));

        const { doc } = await open().read();
        expect(numbersIn(doc, "items").sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      });

      it("shares commits between concurrent updates when it declares groupCommit", async (context) => {
        const backend = open();
        if (!backend.capabilities.groupCommit) context.skip();
        const committed = await Promise.all(Array.from({ length: 50 }, (_, i) => backend.update(appendTo("items", i))));
        const { doc, rev } = await open().read();
        expect(numbersIn(doc, "items")).toHaveLength(50);
        // All 50 were queued before the first commit could start, so far fewer than 50 commits happened.
        expect(rev).toBeLessThan(50);
        expect(Math.max(...committed.map((c) => c.rev))).toBe(rev);
      });
    });

    describe("watch()", () => {
      it("reports another handle's commits as newer revs whose previousRev chains to the last one reported", async (context) => {
        const watcher = open();
        if (!watcher.capabilities.watch) context.skip();
        const writer = open();
        const recorder = recordChanges();
        const stop = watcher.watch(recorder.listener);
        try {
          for (let i = 1; i <= 3; i++) {
            await writer.update((draft) => {
              draft.stampedRev = draft.rev + 1;
            });
          }
          await recorder.reached(3);
        } finally {
          stop();
        }

        const { changes } = recorder;
        expect(changes.at(-1)?.rev).toBe(3);
        changes.forEach((change, i) => {
          expect(change.rev).toBeGreaterThan(change.previousRev);
          expect(change.doc.rev).toBe(change.rev);
          if (change.rev > 0) expect(change.doc.stampedRev).toBe(change.rev);
          if (i > 0) expect(change.previousRev).toBe(changes[i - 1]?.rev);
        });
      });

      it("stops calling a listener once its stop function ran", async (context) => {
        const watcher = open();
        if (!watcher.capabilities.watch) context.skip();
        const writer = open();
        const stopped = recordChanges();
        const active = recordChanges();
        const stop = watcher.watch(stopped.listener);
        const stopActive = watcher.watch(active.listener);
        try {
          await writer.update(appendTo("items", 1));
          await stopped.reached(1);
          stop();
          await writer.update(appendTo("items", 2));
          // Both listeners hang off the same handle, so once the active one saw rev 2 the stopped one would have too.
          await active.reached(2);
          expect(stopped.changes.every((change) => change.rev <= 1)).toBe(true);
        } finally {
          stopActive();
        }
      });
    });

    describe("lock(name)", () => {
      it("hands out a named lock with its name and an AbortSignal that stays quiet while the lock is held", async () => {
        const backend = open();
        const held = await backend.lock("refresh:cred-1");
        try {
          expect(held.name).toBe("refresh:cred-1");
          expect(held.signal).toBeInstanceOf(AbortSignal);
          expect(held.signal.aborted).toBe(false);
        } finally {
          await held.release();
        }
        expect(held.signal.aborted).toBe(false);
      });

      it("makes a second locker of the same name, on another handle, time out with E_LOCK_TIMEOUT", async () => {
        const holder = open();
        const other = open();
        const held = await holder.lock("refresh:cred-1");
        try {
          await expectPoolError(other.lock("refresh:cred-1", { timeoutMs: 150 }), "E_LOCK_TIMEOUT");
          // A different name is a different critical section.
          const unrelated = await other.lock("refresh:cred-2", { timeoutMs: 150 });
          await unrelated.release();
        } finally {
          await held.release();
        }
        const after = await other.lock("refresh:cred-1", { timeoutMs: 5_000 });
        await after.release();
      });

      it("excludes a second locker of the same name on the same handle", async () => {
        const backend = open();
        const held = await backend.lock("refresh:cred-1");
        try {
          await expectPoolError(backend.lock("refresh:cred-1", { timeoutMs: 150 }), "E_LOCK_TIMEOUT");
        } finally {
          await held.release();
        }
      });

      it("grants a waiting locker the lock only after the holder released it", async () => {
        const holder = open();
        const waiter = open();
        const held = await holder.lock("refresh:cred-1");
        let released = false;
        const waiting = waiter.lock("refresh:cred-1", { timeoutMs: HANG_GUARD_MS }).then((lock) => {
          // Recorded at the moment of acquisition, so an early grant fails the test below.
          const grantedAfterRelease = released;
          return { lock, grantedAfterRelease };
        });
        // Give the waiter time to start contending; if it has not, the assertion still holds, it is just weaker.
        await sleep(100);
        released = true;
        await held.release();
        const { lock, grantedAfterRelease } = await waiting;
        expect(grantedAfterRelease).toBe(true);
        await lock.release();
      });

      it("does not block update() while a named lock is held", async () => {
        const backend = open();
        const held = await backend.lock("refresh:cred-1");
        try {
          // The refresh protocol commits the new token while still holding the refresh lock.
          const committed = await backend.update(appendTo("items", 1));
          expect(committed.rev).toBe(1);
        } finally {
          await held.release();
        }
      });
    });

    describe("close()", () => {
      it("commits every update queued before close() and rejects later ones with E_CLOSED", async () => {
        const backend = open();
        const queued = Array.from({ length: 5 }, (_, i) => backend.update(appendTo("items", i)));
        await backend.close();
        const settled = await Promise.allSettled(queued);
        expect(settled.every((result) => result.status === "fulfilled")).toBe(true);

        const { doc } = await open().read();
        expect(numbersIn(doc, "items").sort()).toEqual([0, 1, 2, 3, 4]);

        await expectPoolError(backend.update(appendTo("items", 99)), "E_CLOSED");
        const after = await open().read();
        expect(numbersIn(after.doc, "items")).not.toContain(99);
        expect(after.rev).toBe(doc.rev);
      });

      it("resolves while a watch is still active", async (context) => {
        const backend = open();
        if (!backend.capabilities.watch) context.skip();
        backend.watch(() => undefined);
        await backend.update(appendTo("items", 1));
        await backend.close();
      });
    });

    describe("capabilities", () => {
      it("declares its kind, location and boolean capabilities", () => {
        const backend = open();
        expect(backend.kind).toMatch(/\S/);
        expect(backend.location).toMatch(/\S/);
        expect(typeof backend.capabilities.watch).toBe("boolean");
        expect(typeof backend.capabilities.lock).toBe("boolean");
        expect(typeof backend.capabilities.groupCommit).toBe("boolean");
      });
    });
  });
}
