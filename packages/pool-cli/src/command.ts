// The one way a command is declared: its arguments and options (parsed by node:util parseArgs), a zod schema for
// them, help text with examples, and a run function that calls core and prints. Parsing, `--help`, refusing
// secrets on argv and usage errors are handled here, so every command behaves the same.
import { parseArgs } from "node:util";
import { PoolError } from "@credpool/pool-core";
import { z } from "zod";
import { assertNoSecretInArgv } from "./secret-input.js";

export interface CommandContext {
  readonly argv: readonly string[];
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** The command's name as typed, for messages and help. */
  readonly name: string;
  /** The global `--pool PATH`, when given. */
  readonly poolPath: string | undefined;
  /** The global `--store URL` ("file" or postgres://…), when given. */
  readonly storeUrl?: string | undefined;
  /** The global `--allow-symlink`: accept a pool file that is a symlink. */
  readonly allowSymlink?: boolean;
}

/** What `--help` and `completion` know about a command. */
export interface CommandHelp {
  readonly usage: string;
  readonly description: string;
  readonly options: readonly { readonly flag: string; readonly description: string }[];
  readonly examples: readonly string[];
}

export interface CommandModule {
  readonly run: (context: CommandContext) => Promise<number>;
  readonly help?: CommandHelp;
}

export interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<CommandModule>;
}

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** Placeholder shown in help, e.g. "VAR". */
  readonly value?: string;
  readonly description: string;
}

export interface ArgumentSpec {
  readonly name: string;
  readonly required?: boolean;
  /** Takes every remaining positional (for `exec`, everything after `--`). */
  readonly variadic?: boolean;
}

export interface CommandDefinition<S extends z.ZodType> {
  readonly name: string;
  /** e.g. "credpool add <provider> [options]" */
  readonly usage: string;
  readonly description: string;
  readonly args?: readonly ArgumentSpec[];
  readonly options?: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** Validates the merged arguments and options; option names are camelCased (`--api-key-env` → apiKeyEnv). */
  readonly schema: S;
  /** Everything after `--` goes, unparsed, to the last (variadic) argument. */
  readonly passthrough?: boolean;
  run(input: z.output<S>, context: CommandContext): Promise<number>;
}

export const jsonOption: OptionSpec = { type: "boolean", description: "print a stable JSON document instead of text" };

const GLOBAL_HELP = [
  { flag: "--pool PATH", description: "pool file or directory (overrides CREDPOOL_HOME)" },
  { flag: "--store URL", description: "postgres://user@host/db: use the pool kept in PostgreSQL (CREDPOOL_STORE)" },
  { flag: "--allow-symlink", description: "accept a pool file that is a symlink (writes go into its target)" },
  { flag: "-h, --help", description: "show this help" },
];

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function usageError(name: string, message: string, cause?: unknown): PoolError {
  return new PoolError("E_USAGE", `${message}\nRun \`credpool ${name} --help\` for usage.`, { cause });
}

export function renderCommandHelp(help: CommandHelp): string {
  const rows = [...help.options, ...GLOBAL_HELP];
  const width = Math.max(...rows.map((row) => row.flag.length));
  const lines = [
    `Usage: ${help.usage}`,
    "",
    help.description,
    "",
    "Options:",
    ...help.options.map((row) => `  ${row.flag.padEnd(width)}  ${row.description}`),
    "",
    "Global options:",
    ...GLOBAL_HELP.map((row) => `  ${row.flag.padEnd(width)}  ${row.description}`),
    "",
    "Examples:",
    ...help.examples.map((example) => `  $ ${example}`),
    "",
    "Exit codes are listed in `credpool --help`.",
  ];
  return `${lines.join("\n")}\n`;
}

/** Node's parseArgs reads `-5` as an option; a negative number is always a value here. */
function protectNegativeNumbers(tokens: readonly string[], options: Readonly<Record<string, OptionSpec>>): string[] {
  const out: string[] = [];
  const trailing: string[] = [];
  for (const token of tokens) {
    if (/^-\d+(\.\d+)?$/.test(token)) {
      const previous = out.at(-1);
      const optionName = previous?.startsWith("--") && !previous.includes("=") ? previous.slice(2) : undefined;
      if (optionName !== undefined && options[optionName]?.type === "string") {
        out[out.length - 1] = `${previous}=${token}`;
      } else {
        trailing.push(token);
      }
      continue;
    }
    out.push(token);
  }
  return trailing.length > 0 ? [...out, "--", ...trailing] : out;
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `Unknown option ${unknown[1]}.`;
  const missing = /Option '([^']+)' argument missing/.exec(message);
  if (missing) return `Option ${missing[1]} needs a value.`;
  const ambiguous = /Option '([^ ']+)[^']*' argument is ambiguous/.exec(message);
  if (ambiguous)
    return `Option ${ambiguous[1]} needs a value (use ${ambiguous[1]}=VALUE for values starting with "-").`;
  return message.split("\n")[0] ?? message;
}

export function defineCommand<S extends z.ZodType>(
  definition: CommandDefinition<S>,
): CommandModule & { help: CommandHelp } {
  const options = definition.options ?? {};
  const args = definition.args ?? [];
  const help: CommandHelp = {
    usage: definition.usage,
    description: definition.description,
    options: [
      ...Object.entries(options).map(([name, spec]) => ({
        flag: `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`,
        description: spec.description,
      })),
    ],
    examples: definition.examples,
  };

  async function run(context: CommandContext): Promise<number> {
    const dashDash = context.argv.indexOf("--");
    const before = dashDash === -1 ? [...context.argv] : context.argv.slice(0, dashDash);
    const after = dashDash === -1 ? [] : context.argv.slice(dashDash + 1);
    if (before.includes("--help") || before.includes("-h")) {
      context.stdout.write(renderCommandHelp(help));
      return 0;
    }
    assertNoSecretInArgv(before);
    if (after.length > 0 && !definition.passthrough) {
      throw usageError(definition.name, `\`credpool ${definition.name}\` takes nothing after "--".`);
    }

    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: protectNegativeNumbers(before, options),
        options: Object.fromEntries(
          Object.entries(options).map(([name, spec]) => [
            name,
            spec.short ? { type: spec.type, short: spec.short } : { type: spec.type },
          ]),
        ),
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw usageError(definition.name, describeParseError(error), error);
    }

    const input: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(parsed.values)) input[camelCase(name)] = value;
    const positionals = [...parsed.positionals];
    for (const arg of args) {
      if (arg.variadic) {
        input[camelCase(arg.name)] = definition.passthrough ? after : positionals.splice(0);
        if (definition.passthrough && positionals.length > 0) {
          throw usageError(
            definition.name,
            `Put "--" before the command: credpool ${definition.name} … -- ${positionals.join(" ")}`,
          );
        }
      } else {
        const value = positionals.shift();
        if (value === undefined && arg.required) throw usageError(definition.name, `Missing <${arg.name}>.`);
        if (value !== undefined) input[camelCase(arg.name)] = value;
      }
    }
    if (positionals.length > 0) {
      throw usageError(
        definition.name,
        `Unexpected argument${positionals.length > 1 ? "s" : ""}: ${positionals.join(" ")}.`,
      );
    }

    const result = definition.schema.safeParse(input);
    if (!result.success) {
      throw usageError(definition.name, `Invalid arguments:\n${z.prettifyError(result.error)}`, result.error);
    }
    return definition.run(result.data, context);
  }

  return { help, run };
}

/** A string that must be a whole number within bounds; zod sees what the user typed. */
export function integerArgument(what: string, min: number, max: number, messages: { required?: string } = {}) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? (messages.required ?? `${what} is required`) : `${what} must be a whole number`,
    })
    .regex(/^-?\d+$/, `${what} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${what} must be at least ${min}`).max(max, `${what} must be at most ${max}`));
}

export interface CommandGroupDefinition {
  /** e.g. "totp" */
  readonly name: string;
  readonly usage: string;
  readonly description: string;
  readonly examples: readonly string[];
  /** Keyed by the words after the group's name: "setup", or "token create" for a nested group. */
  readonly subcommands: Readonly<Record<string, CommandModule & { help: CommandHelp }>>;
}

/**
 * The one way to declare `credpool <group> <subcommand>`. The group's help lists every subcommand's flags (for
 * shell completion); asked-for help is output (stdout, exit 0), while a missing subcommand is a usage error (the
 * same help on stderr, exit 2).
 */
export function defineCommandGroup(definition: CommandGroupDefinition): CommandModule & { help: CommandHelp } {
  const { name, subcommands } = definition;
  const paths = Object.keys(subcommands).map((key) => key.split(" "));
  const depth = Math.max(...paths.map((path) => path.length));
  const help: CommandHelp = {
    usage: definition.usage,
    description: definition.description,
    options: [
      ...new Map(
        Object.values(subcommands).flatMap((command) =>
          command.help.options.map((option) => [option.flag, option] as const),
        ),
      ).values(),
    ],
    examples: definition.examples,
  };

  async function run(context: CommandContext): Promise<number> {
    const words: string[] = [];
    for (let index = 0; index < depth; index++) {
      const word = context.argv[index];
      // `help` is a subcommand-like word only right after the group's name: `credpool totp help`.
      if (word === undefined || word === "--help" || word === "-h" || (index === 0 && word === "help")) {
        const asked = word !== undefined;
        (asked ? context.stdout : context.stderr).write(renderCommandHelp(help));
        return asked ? 0 : 2;
      }
      words.push(word);
      const key = words.join(" ");
      const subcommand = Object.hasOwn(subcommands, key) ? subcommands[key] : undefined;
      if (subcommand)
        return subcommand.run({ ...context, argv: context.argv.slice(index + 1), name: `${name} ${key}` });
      if (!paths.some((path) => path.length > words.length && words.every((part, at) => path[at] === part))) break;
    }
    const choices = Object.keys(subcommands);
    const list = choices.length > 1 ? `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}` : choices.join("");
    throw new PoolError(
      "E_USAGE",
      `Unknown subcommand "${[name, ...context.argv.slice(0, depth)].join(" ")}": use ${list}. Run \`credpool ${name} --help\` for usage.`,
    );
  }

  return { help, run };
}
