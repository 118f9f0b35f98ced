// The child side of bench/lib/children.mjs: flags, buffered IPC messages, and replies to the parent.
import { parseArgs } from "node:util";

const inbox = [];
const waiting = [];
const handlers = new Map();
process.on("message", (message) => {
  const handler = handlers.get(message?.type);
  if (handler) return handler(message);
  const index = waiting.findIndex((w) => w.type === message?.type);
  if (index >= 0) waiting.splice(index, 1)[0].resolve(message);
  else inbox.push(message);
});

/** `--name value` flags for the given names; every value is a string. */
export function readFlags(...names) {
  const options = Object.fromEntries(names.map((name) => [name, { type: "string" }]));
  return parseArgs({ options, strict: true }).values;
}

export function send(message) {
  process.send?.(message);
}

/** Resolves with the next message of `type`, including one that arrived before anyone asked. */
export function nextMessage(type) {
  const index = inbox.findIndex((m) => m?.type === type);
  if (index >= 0) return Promise.resolve(inbox.splice(index, 1)[0]);
  return new Promise((resolve) => waiting.push({ type, resolve }));
}

/** Hands each message of `type` to `handler`, including those that arrived before. */
export function onMessages(type, handler) {
  handlers.set(type, handler);
  for (const message of inbox.filter((m) => m?.type === type)) {
    inbox.splice(inbox.indexOf(message), 1);
    handler(message);
  }
}

export function sharedNow() {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reports an unexpected failure to the parent before dying, so the bench fails loudly rather than hangs. */
export function failOnError() {
  const fail = (error) => {
    process.stderr.write(`${error?.stack ?? String(error)}\n`);
    send({ type: "error", message: String(error?.message ?? error) });
    process.exit(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
}

/**
 * Runs `update` `total` times with `inflight` calls outstanding. A failure is counted by its code, not thrown: a
 * missing update is part of what the writers report.
 */
export async function runLanes(total, inflight, update) {
  let issued = 0;
  let acked = 0;
  const errors = {};
  async function lane() {
    while (issued < total) {
      issued++;
      try {
        await update();
        acked++;
      } catch (error) {
        const code = error?.code ?? "UNKNOWN";
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: inflight }, lane));
  return { acked, errors };
}
