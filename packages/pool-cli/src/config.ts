// config.json as commands load it: its warnings (unknown or renamed keys) go to stderr once per invocation, however
// many parts of the command read the file.
import { loadCredpoolConfig, type LoadedConfig } from "@credpool/pool-core";
import type { CommandContext } from "./command.js";

/** Keyed by the invocation's stderr: a command and the subcommand it dispatches to share it. */
const shown = new WeakMap<NodeJS.WritableStream, Set<string>>();

export async function loadCliConfig(
  context: Pick<CommandContext, "env" | "stderr">,
  home: string,
): Promise<LoadedConfig> {
  const loaded = await loadCredpoolConfig({ home, env: context.env });
  let seen = shown.get(context.stderr);
  if (!seen) {
    seen = new Set();
    shown.set(context.stderr, seen);
  }
  for (const warning of loaded.warnings) {
    const key = `${warning.file}\0${warning.key}`;
    if (seen.has(key)) continue;
    seen.add(key);
    context.stderr.write(`credpool: warning: ${warning.message}\n`);
  }
  return loaded;
}
