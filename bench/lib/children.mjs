// Child processes for multi-process benches: forked with an IPC channel, a start barrier, and clean teardown.
import { fork } from "node:child_process";

/** Forks `script` and collects its IPC messages; `waitFor` resolves with the first (past or future) match. */
export function forkChild(script, args = [], { env = {} } = {}) {
  const child = fork(script, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  const messages = [];
  const waiters = new Set();
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      for (const waiter of waiters) waiter.fail();
      waiters.clear();
      resolve(exitInfo);
    });
  });
  child.on("message", (message) => {
    messages.push(message);
    for (const waiter of waiters) {
      if (waiter.predicate(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  });

  function describeExit() {
    const tail = stderr.trim().split("\n").slice(-15).join("\n");
    return `child ${script} ${args.join(" ")} exited (code ${exitInfo?.code}, signal ${exitInfo?.signal})${
      tail ? `:\n${tail}` : ""
    }`;
  }

  return {
    pid: child.pid,
    messages,
    exited,
    stderr: () => stderr,
    send(message) {
      if (child.connected) child.send(message);
    },
    waitFor(predicate, timeoutMs = 60_000) {
      const found = messages.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      if (exitInfo) return Promise.reject(new Error(describeExit()));
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (message) => {
            clearTimeout(timer);
            resolve(message);
          },
          fail: () => {
            clearTimeout(timer);
            reject(new Error(describeExit()));
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`child ${script} sent no matching message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    kill(signal = "SIGKILL") {
      if (exitInfo === null) child.kill(signal);
    },
  };
}

/** Kills any child still running and waits for it, so a failed bench leaves no process behind. */
export async function stopChildren(children) {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
}

/** Waits for every child's "ready", then sends "go" to all at once, and returns the go time (shared clock). */
export async function startTogether(children, goMessage = { type: "go" }, timeoutMs = 60_000) {
  await Promise.all(children.map((child) => child.waitFor((m) => m.type === "ready", timeoutMs)));
  const goAt = performance.timeOrigin + performance.now();
  for (const child of children) child.send({ ...goMessage, goAt });
  return goAt;
}
