// The main thread's side of the commit worker: one worker per process, shared by every file backend, started on
// the first commit and never keeping the process alive while idle.
import { Worker } from "node:worker_threads";
import { PoolError } from "../errors.js";
import type {
  AcquireReply,
  AcquireRequest,
  CommitReply,
  CommitRequest,
  PublishReply,
  PublishRequest,
  WorkerReply,
  WorkerRequest,
} from "./commit-protocol.js";

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: unknown) => void };

export interface CommitWorker {
  /** True once the worker has loaded and can take requests. */
  readonly ready: boolean;
  /**
   * Resolves when `ready`, or when the worker failed to start (requests then stay on the main thread). Keeps the
   * process alive meanwhile, which an idle worker never does.
   */
  whenStarted(): Promise<void>;
  acquire(request: Omit<AcquireRequest, "op">): Promise<AcquireReply>;
  publish(request: Omit<PublishRequest, "op">): Promise<PublishReply>;
  commit(request: Omit<CommitRequest, "op">): Promise<CommitReply>;
  release(id: number): Promise<void>;
  /** Wakes a waiter between lock tries. */
  poke(): void;
}

let current: CommitWorker | null = null;

/**
 * The built worker next to this module. Under vitest the sources run from src/ (see vitest.config.ts), and the
 * worker then runs from dist/, which `pnpm test` builds first.
 */
function workerUrl(): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL("../../dist/store/commit-worker.js", import.meta.url)
    : new URL("./commit-worker.js", import.meta.url);
}

/**
 * The process's own flags minus those that describe its entry script (`node -e`, `--input-type`), which a worker
 * started from a file refuses. Preloads (`--import`, `--require`) carry over, as they would by default.
 */
function workerExecArgv(): string[] {
  const kept: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (["-e", "--eval", "-p", "--print", "--input-type"].includes(arg)) {
      i++;
      continue;
    }
    if (/^(--eval|--print|--input-type)=/.test(arg)) continue;
    kept.push(arg);
  }
  return kept;
}

function workerFailed(error: unknown): PoolError {
  return new PoolError(
    "E_POOL_IO",
    `The store's commit worker failed: ${(error as Error)?.message ?? String(error)}. Nothing was committed.`,
    { cause: error },
  );
}

/**
 * The flags a worker needs to load our module as the process loads its own: preloads, loaders, resolution
 * conditions. Used when the process runs with a flag a worker refuses (a V8 flag such as --max-old-space-size).
 */
function loadingExecArgv(all: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < all.length; i++) {
    const arg = all[i]!;
    const name = arg.split("=")[0]!;
    if (!["--import", "--require", "-r", "--loader", "--experimental-loader", "--conditions", "-C"].includes(name)) {
      continue;
    }
    kept.push(arg);
    if (!arg.includes("=") && i + 1 < all.length) kept.push(all[++i]!);
  }
  return kept;
}

/** A worker, or null when this process's flags leave none that can start: commits then stay on the main thread. */
function spawnWorker(wake: Int32Array): Worker | null {
  const full = workerExecArgv();
  for (const execArgv of [full, loadingExecArgv(full)]) {
    try {
      return new Worker(workerUrl(), { workerData: { wake: wake.buffer }, name: "credpool-commit", execArgv });
    } catch (error) {
      if ((error as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw error;
    }
  }
  return null;
}

/** Never ready: every commit takes the main-thread form. */
const unavailable: CommitWorker = {
  ready: false,
  whenStarted: () => Promise.resolve(),
  acquire: () => Promise.reject(workerFailed(new Error("it could not start"))),
  publish: () => Promise.reject(workerFailed(new Error("it could not start"))),
  commit: () => Promise.reject(workerFailed(new Error("it could not start"))),
  release: () => Promise.resolve(),
  poke: () => undefined,
};

function start(): CommitWorker {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const spawned = spawnWorker(wake);
  if (spawned === null) return unavailable;
  const worker: Worker = spawned;
  const pending = new Map<number, Pending>();
  let ready = false;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  worker.on("message", (message: WorkerReply | { op: "ready" }) => {
    if (message.op === "ready") {
      ready = true;
      markStarted();
      return;
    }
    const waiter = pending.get(message.id);
    if (waiter === undefined) return;
    pending.delete(message.id);
    if (pending.size === 0) worker.unref();
    if (message.op === "crash") waiter.reject(workerFailed(message.reply.error));
    else waiter.resolve(message);
  });
  const fail = (error: unknown): void => {
    // A worker that crashed after starting is replaced on the next commit; one that never started (a broken
    // install) is not retried, and commits stay on the main thread.
    if (current === handle && ready) current = null;
    ready = false;
    markStarted();
    for (const waiter of pending.values()) waiter.reject(workerFailed(error));
    pending.clear();
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
  // After the listeners: adding a "message" listener refs the worker's port again.
  worker.unref();

  function poke(): void {
    Atomics.add(wake, 0, 1);
    Atomics.notify(wake, 0);
  }

  function call(request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(request.id, { resolve, reject });
      worker.postMessage(request);
      // A publish or release must not wait behind another lock's backoff.
      poke();
    });
  }

  const handle: CommitWorker = {
    get ready() {
      return ready;
    },
    whenStarted: async () => {
      if (ready) return;
      worker.ref();
      try {
        await started;
      } finally {
        if (pending.size === 0) worker.unref();
      }
    },
    acquire: async (request) => ((await call({ op: "acquire", ...request })) as { reply: AcquireReply }).reply,
    publish: async (request) => ((await call({ op: "publish", ...request })) as { reply: PublishReply }).reply,
    commit: async (request) => ((await call({ op: "commit", ...request })) as { reply: CommitReply }).reply,
    release: async (id) => {
      await call({ op: "release", id });
    },
    poke,
  };
  return handle;
}

/**
 * Ends the commit worker's sleep between lock tries at once: the caller saw the lock change (a directory watcher's
 * event). Does nothing when no worker runs.
 */
export function pokeCommitWorker(): void {
  current?.poke();
}

/** Whether this process has started its commit worker (it may still be loading). */
export function commitWorkerStarted(): boolean {
  return current !== null;
}

/** This process's commit worker, started on first use. */
export function commitWorker(): CommitWorker {
  current ??= start();
  return current;
}

let nextId = 1;

export function newCommitId(): number {
  return nextId++;
}
