// `credpool completion <bash|zsh|fish>`: a completion script for commands, their options and known providers.
import { KNOWN_PROVIDERS } from "@credpool/pool-core";
import { z } from "zod";
import { COMMANDS } from "../cli.js";
import { defineCommand, type CommandHelp } from "../command.js";

const PROVIDER_COMMANDS = new Set(["add", "strategy", "list", "reset", "lease", "exec", "watch"]);

function flagsOf(help: CommandHelp | undefined): string[] {
  const flags = (help?.options ?? []).flatMap((option) =>
    option.flag.split(/,\s*/).map((part) => part.split(" ")[0] ?? ""),
  );
  return [...flags.filter((flag) => flag.startsWith("--")), "--help", "--pool", "--allow-symlink"];
}

function bash(commands: Map<string, string[]>, providers: string[]): string {
  const cases = [...commands]
    .map(
      ([name, flags]) =>
        `    ${name}) opts="${flags.join(" ")}${PROVIDER_COMMANDS.has(name) ? ` ${providers.join(" ")}` : ""}" ;;`,
    )
    .join("\n");
  return `# credpool bash completion. Load with: source <(credpool completion bash)
_credpool() {
  local cur cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmd=""
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$word" in -*) ;; *) cmd="$word"; break ;; esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=( $(compgen -W "${[...commands.keys()].join(" ")} --help --version --pool --allow-symlink" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -o default -F _credpool credpool
`;
}

function zsh(commands: Map<string, string[]>, summaries: Map<string, string>, providers: string[]): string {
  const described = [...summaries]
    .map(([name, summary]) => `    '${name}:${summary.replace(/'/g, "").replace(/:/g, " -")}'`)
    .join("\n");
  const cases = [...commands]
    .map(
      ([name, flags]) =>
        `    ${name}) compadd -- ${flags.join(" ")}${PROVIDER_COMMANDS.has(name) ? ` ${providers.join(" ")}` : ""} ;;`,
    )
    .join("\n");
  return `#compdef credpool
# credpool zsh completion. Load with: source <(credpool completion zsh)
_credpool() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
}
compdef _credpool credpool
`;
}

function fish(commands: Map<string, string[]>, summaries: Map<string, string>, providers: string[]): string {
  const lines = ["# credpool fish completion. Load with: credpool completion fish | source", "complete -c credpool -f"];
  for (const [name, summary] of summaries) {
    lines.push(`complete -c credpool -n __fish_use_subcommand -a ${name} -d '${summary.replace(/'/g, "\\'")}'`);
  }
  for (const [name, flags] of commands) {
    for (const flag of flags)
      lines.push(`complete -c credpool -n '__fish_seen_subcommand_from ${name}' -l ${flag.slice(2)}`);
    if (PROVIDER_COMMANDS.has(name)) {
      lines.push(`complete -c credpool -n '__fish_seen_subcommand_from ${name}' -a '${providers.join(" ")}'`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export const { help, run } = defineCommand({
  name: "completion",
  usage: "credpool completion <bash|zsh|fish>",
  description: "Print a completion script for your shell: commands, their options and the known providers.",
  args: [{ name: "shell", required: true }],
  examples: [
    "source <(credpool completion bash)            # in ~/.bashrc",
    "source <(credpool completion zsh)             # in ~/.zshrc",
    "credpool completion fish > ~/.config/fish/completions/credpool.fish",
  ],
  schema: z.object({ shell: z.enum(["bash", "zsh", "fish"], { error: "the shell must be bash, zsh or fish" }) }),
  async run(input, context) {
    const commands = new Map<string, string[]>();
    const summaries = new Map<string, string>();
    for (const [name, entry] of Object.entries(COMMANDS)) {
      summaries.set(name, entry.summary);
      const module = name === "completion" ? { help } : await entry.load();
      commands.set(name, flagsOf(module.help));
    }
    const providers = Object.keys(KNOWN_PROVIDERS);
    const script =
      input.shell === "bash"
        ? bash(commands, providers)
        : input.shell === "zsh"
          ? zsh(commands, summaries, providers)
          : fish(commands, summaries, providers);
    context.stdout.write(script);
    return 0;
  },
});
