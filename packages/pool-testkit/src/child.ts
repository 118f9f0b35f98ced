// Real child processes that speak newline-delimited JSON on stdout and take commands on stdin.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface SpawnChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Extra node flags, e.g. `--import` of a fault-injection preload. */
  nodeArgs?: string[];
  cwd?: string;
  /** Run as this user and group (the suite must run as root). */
  uid?: number;
  gid?: number;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ChildHandle {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Every JSON message printed so far, in order. */
  readonly messages: unknown[];
  /** Everything printed to stderr so far. */
  stderr(): string;
  /** Resolves with the first message (past or future) that matches. */
  waitFor<T = Record<string, unknown>>(predicate: (message: T) => boolean, timeoutMs?: number): Promise<T>;
  send(line: string): void;
  kill(signal?: NodeJS.Signals): void;
  readonly exited: Promise<ChildExit>;
}

export function spawnChild(script: string, args: string[] = [], options: SpawnChildOptions = {}): ChildHandle {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  const messages: unknown[] = [];
  const waiters = new Set<{ predicate: (message: never) => boolean; resolve: (message: never) => void }>();
  let stderrText = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderrText += chunk;
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      message = { text: line };
    }
    messages.push(message);
    for (const waiter of waiters) {
      if (waiter.predicate(message as never)) {
        waiters.delete(waiter);
        waiter.resolve(message as never);
      }
    }
  });
  child.stdin.on("error", () => undefined);
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });

  return {
    process: child,
    pid: child.pid ?? -1,
    messages,
    stderr: () => stderrText,
    waitFor<T>(predicate: (message: T) => boolean, timeoutMs = 30_000): Promise<T> {
      const found = messages.find((message) => predicate(message as T));
      if (found !== undefined) return Promise.resolve(found as T);
      return new Promise<T>((resolve, reject) => {
        const waiter = {
          predicate: predicate as (message: never) => boolean,
          resolve: (message: never) => {
            clearTimeout(timer);
            resolve(message);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`child ${child.pid} sent no matching message within ${timeoutMs} ms; stderr: ${stderrText}`),
          );
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(() => {
          if (waiters.delete(waiter)) {
            clearTimeout(timer);
            reject(new Error(`child ${child.pid} exited before a matching message; stderr: ${stderrText}`));
          }
        });
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    kill(signal = "SIGTERM") {
      child.kill(signal);
    },
    exited,
  };
}

/**
 * Start barrier: waits until every child printed `{"ready":true}`, then releases them all at once with "go".
 * Children do their setup (imports, opening the pool) before ready, so the contention starts together.
 */
export async function startTogether(children: readonly ChildHandle[], timeoutMs = 30_000): Promise<void> {
  await Promise.all(children.map((child) => child.waitFor<{ ready?: boolean }>((m) => m.ready === true, timeoutMs)));
  for (const child of children) child.send("go");
}
