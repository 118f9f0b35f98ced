// Shared protocol for test children: JSON lines out, "go" on stdin as the start barrier.
import { createInterface } from "node:readline";

export function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Prints {"ready":true} and resolves when the parent says "go". */
export function waitForGo() {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      if (line.trim() === "go") {
        lines.close();
        resolve();
      }
    });
    emit({ ready: true });
  });
}

/** Parses `--name value` pairs into an object of strings. */
export function parseFlags(argv = process.argv.slice(2)) {
  const flags = {};
  for (let i = 0; i < argv.length; i += 2) flags[argv[i].replace(/^--/, "")] = argv[i + 1];
  return flags;
}
