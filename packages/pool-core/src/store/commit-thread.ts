// The main thread's side of the commit worker: one worker per process, shared by every file backend, started on
// the first commit and never keeping the process alive while idle.
import { Worker } from "node:worker_threads";
import { PoolError } from "../errors.js";
import type {
  AcquireReply,
  AcquireRequest,
  PublishReply,
  PublishRequest,
  WorkerReply,
  WorkerRequest,
} from "./commit-protocol.js";

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: unknown) => void };

interface Thread {
  readonly worker: Worker;
  readonly wake: Int32Array;
  readonly pending: Map<number, Pending>;
}

let thread: Thread | null = null;
let nextId = 1;

/**
 * The built worker next to this module. Under vitest the sources run from src/ (see vitest.config.ts), and the
 * worker then runs from dist/, which `pnpm test` builds first.
 */
function workerUrl(): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL("../../dist/store/commit-worker.js", import.meta.url)
    : new URL("./commit-worker.js", import.meta.url);
}

function workerFailed(error: unknown): PoolError {
  return new PoolError(
    "E_POOL_IO",
    `The store's commit worker failed: ${(error as Error)?.message ?? String(error)}. Nothing was committed.`,
    { cause: error },
  );
}

function start(): Thread {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(workerUrl(), { workerData: { wake: wake.buffer }, name: "credpool-commit" });
  const pending = new Map<number, Pending>();
  const current: Thread = { worker, wake, pending };
  worker.unref();
  worker.on("message", (message: WorkerReply) => {
    const waiter = pending.get(message.id);
    if (waiter === undefined) return;
    pending.delete(message.id);
    if (pending.size === 0) worker.unref();
    if (message.op === "crash") waiter.reject(workerFailed(message.reply.error));
    else waiter.resolve(message);
  });
  const fail = (error: unknown): void => {
    if (thread === current) thread = null;
    for (const waiter of pending.values()) waiter.reject(workerFailed(error));
    pending.clear();
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
  return current;
}

function call(request: WorkerRequest): Promise<WorkerReply> {
  thread ??= start();
  const { worker, wake, pending } = thread;
  return new Promise((resolve, reject) => {
    if (pending.size === 0) worker.ref();
    pending.set(request.id, { resolve, reject });
    worker.postMessage(request);
    // Ends a sleep between lock tries at once: a publish or release must not wait behind another lock's backoff.
    Atomics.add(wake, 0, 1);
    Atomics.notify(wake, 0);
  });
}

export function newCommitId(): number {
  return nextId++;
}

export async function acquireAndRead(request: Omit<AcquireRequest, "op">): Promise<AcquireReply> {
  return ((await call({ op: "acquire", ...request })) as { reply: AcquireReply }).reply;
}

export async function publishAndRelease(request: Omit<PublishRequest, "op">): Promise<PublishReply> {
  return ((await call({ op: "publish", ...request })) as { reply: PublishReply }).reply;
}

export async function releaseLock(id: number): Promise<void> {
  await call({ op: "release", id });
}
