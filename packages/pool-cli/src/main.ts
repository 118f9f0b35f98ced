// Entry point: global flags, lazy dispatch, and the single place where errors become messages and exit codes.
// It imports nothing heavy: pool-core is loaded by the command that needs it (or by the error handler).
import { readFile } from "node:fs/promises";
import { COMMANDS } from "./cli.js";
import type { CommandContext } from "./command.js";
import { EXIT_CODE_TABLE, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeFor } from "./exit-codes.js";

async function readVersion(): Promise<string> {
  const text = await readFile(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

function renderHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(12, ...names.map((name) => name.length));
  const lines = [
    "credpool: share model-provider credentials safely between processes",
    "",
    "Usage: credpool [--pool PATH | --store URL] <command> [options]",
    "       credpool <command> --help",
    "",
    "Commands:",
    ...names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name]?.summary ?? ""}`),
    "",
    "Global options:",
    `  ${"--pool PATH".padEnd(width)}  pool file, or its directory (overrides CREDPOOL_HOME)`,
    `  ${"--store URL".padEnd(width)}  postgres://user@host/db: keep the pool in PostgreSQL (overrides CREDPOOL_STORE)`,
    `  ${"--allow-symlink".padEnd(width)}  accept a pool file that is a symlink (writes go into its target)`,
    `  ${"--help, -h".padEnd(width)}  show help (also after any command)`,
    `  ${"--version, -V".padEnd(width)}  print the version`,
    "",
    "Environment:",
    "  CREDPOOL_HOME             pool directory (default: $XDG_CONFIG_HOME/credpool or ~/.config/credpool)",
    "  CREDPOOL_STORE            postgres://user@host/db to keep the pool in PostgreSQL (password: PGPASSWORD)",
    "  CREDPOOL_LOCK_TIMEOUT_MS  how long to wait for another process's lock (default 10000)",
    "  NO_COLOR                  disable colour",
    "",
    "Exit codes:",
    ...EXIT_CODE_TABLE.map((row) => `  ${String(row.exit).padStart(3)}  ${row.meaning}`),
    "  exec passes its command's exit status through (128+N when killed by signal N).",
  ];
  return `${lines.join("\n")}\n`;
}

/** Closest command name within two edits (a swap of neighbours counts as one), for "did you mean". */
function suggest(input: string): string | undefined {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) =>
      Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
    );
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const row = d[i] ?? [];
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        row[j] = Math.min((d[i - 1]?.[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (d[i - 1]?.[j - 1] ?? 0) + cost);
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
          row[j] = Math.min(row[j] ?? 0, (d[i - 2]?.[j - 2] ?? 0) + 1);
        }
      }
    }
    return d[a.length]?.[b.length] ?? Infinity;
  };
  const scored = Object.keys(COMMANDS).map((name) => ({ name, score: distance(input, name) }));
  scored.sort((a, b) => a.score - b.score);
  const best = scored[0];
  return best && best.score <= 2 ? best.name : undefined;
}

interface GlobalFlags {
  readonly poolPath: string | undefined;
  readonly storeUrl: string | undefined;
  readonly allowSymlink: boolean;
  readonly rest: string[];
}

/** Pulls `--pool PATH`, `--store URL` and `--allow-symlink` out of the arguments before any `--`, wherever they appear. */
function extractGlobalFlags(argv: readonly string[]): GlobalFlags | { error: string } {
  const rest: string[] = [];
  let poolPath: string | undefined;
  let storeUrl: string | undefined;
  let allowSymlink = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? "";
    if (token === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (token === "--pool") {
      const value = argv[i + 1];
      if (value === undefined || value === "" || value.startsWith("-")) return { error: "--pool needs a path." };
      poolPath = value;
      i++;
    } else if (token === "--store" || token.startsWith("--store=")) {
      const value = token === "--store" ? argv[++i] : token.slice("--store=".length);
      if (value === undefined || value === "" || value.startsWith("-")) {
        return { error: '--store needs "file" or a postgres:// URL.' };
      }
      storeUrl = value;
    } else if (token === "--allow-symlink") {
      allowSymlink = true;
    } else if (token.startsWith("--pool=")) {
      poolPath = token.slice("--pool=".length);
      if (poolPath === "") return { error: "--pool needs a path." };
    } else {
      rest.push(token);
    }
  }
  return { poolPath, storeUrl, allowSymlink, rest };
}

type MainIo = Pick<CommandContext, "stdout" | "stderr" | "env"> & { stdin?: NodeJS.ReadableStream };

const guardedStreams = new WeakSet<NodeJS.WritableStream>();

/**
 * A reader that goes away (`credpool doctor | head`) fails the next write with EPIPE, emitted as an 'error' event
 * that would crash the process with a stack trace. Nobody is left to read, so the output is dropped and the command
 * ends with its own status. Any other stream error still surfaces. See packages/pool-cli/test/closed-stdout.test.ts.
 */
function dropOutputOnClosedPipe(stream: NodeJS.WritableStream): void {
  if (guardedStreams.has(stream)) return;
  guardedStreams.add(stream);
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
  });
}

export async function main(
  argv: readonly string[],
  io: MainIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  dropOutputOnClosedPipe(io.stdout);
  dropOutputOnClosedPipe(io.stderr);
  const flags = extractGlobalFlags(argv);
  if ("error" in flags) {
    io.stderr.write(`credpool: ${flags.error}\n`);
    return EXIT_USAGE;
  }
  const [first, ...rest] = flags.rest;
  const wantsJson = rest.slice(0, rest.includes("--") ? rest.indexOf("--") : undefined).includes("--json");
  try {
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
      const topic = first === "help" ? rest[0] : undefined;
      if (topic !== undefined && COMMANDS[topic]) return await main([topic, "--help"], io);
      (first === undefined ? io.stderr : io.stdout).write(renderHelp());
      return first === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (first === "--version" || first === "-V") {
      io.stdout.write(`${await readVersion()}\n`);
      return EXIT_OK;
    }
    const entry = COMMANDS[first];
    if (!entry) {
      const hint = suggest(first);
      io.stderr.write(
        `credpool: unknown command "${first}".${hint ? ` Did you mean \`credpool ${hint}\`?` : ""} Run \`credpool --help\` for the list.\n`,
      );
      return EXIT_USAGE;
    }
    const command = await entry.load();
    return await command.run({
      stdin: io.stdin ?? process.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      env: io.env,
      argv: rest,
      name: first,
      poolPath: flags.poolPath,
      storeUrl: flags.storeUrl,
      allowSymlink: flags.allowSymlink,
    });
  } catch (error) {
    const { isPoolError } = await import("@credpool/pool-core");
    if (isPoolError(error)) {
      const exit = exitCodeFor(error.code);
      if (wantsJson) {
        const body = {
          error: {
            code: error.code,
            message: error.message,
            exitCode: exit,
            ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
          },
        };
        io.stderr.write(`${JSON.stringify(body)}\n`);
      } else {
        io.stderr.write(`credpool: ${error.message}\n`);
      }
      return exit;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`credpool: unexpected failure: ${message}\n`);
    if (io.env.CREDPOOL_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return EXIT_FAILURE;
  }
}
