// Entry point: global flags, lazy dispatch, and the single place where errors become messages and exit codes.
import { readFile } from "node:fs/promises";
import { isPoolError } from "@credpool/pool-core";
import { COMMANDS, type CommandContext } from "./cli.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeFor } from "./exit-codes.js";

async function readVersion(): Promise<string> {
  const text = await readFile(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

function renderHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(8, ...names.map((name) => name.length));
  const lines = [
    "credpool: share model-provider credentials safely between processes",
    "",
    "Usage: credpool <command> [options]",
    "",
    "Commands:",
    ...names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name]?.summary ?? ""}`),
    "",
    "Global options:",
    "  --help, -h     show help (also after any command)",
    "  --version, -V  print the version",
    "",
    "Environment:",
    "  CREDPOOL_HOME  pool directory (default: $XDG_CONFIG_HOME/credpool or ~/.config/credpool)",
  ];
  return `${lines.join("\n")}\n`;
}

export async function main(
  argv: readonly string[],
  io: Pick<CommandContext, "stdout" | "stderr" | "env"> = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  },
): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
      io.stdout.write(renderHelp());
      return first === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (first === "--version" || first === "-V") {
      io.stdout.write(`${await readVersion()}\n`);
      return EXIT_OK;
    }
    const entry = COMMANDS[first];
    if (!entry) {
      io.stderr.write(`credpool: unknown command "${first}". Run \`credpool --help\` for the list.\n`);
      return EXIT_USAGE;
    }
    const command = await entry.load();
    return await command.run({ ...io, argv: rest });
  } catch (error) {
    if (isPoolError(error)) {
      io.stderr.write(`credpool: ${error.message}\n`);
      return exitCodeFor(error.code);
    }
    io.stderr.write(`credpool: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}
