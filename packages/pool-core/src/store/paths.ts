// Where the pool lives: $CREDPOOL_HOME, else $XDG_CONFIG_HOME/credpool, else ~/.config/credpool.
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const POOL_FILE_NAME = "pool.json";

export function resolveCredpoolHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CREDPOOL_HOME) return resolve(env.CREDPOOL_HOME);
  const configHome = env.XDG_CONFIG_HOME ? resolve(env.XDG_CONFIG_HOME) : join(homedir(), ".config");
  return join(configHome, "credpool");
}

export function resolvePoolPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(resolveCredpoolHome(env), POOL_FILE_NAME);
}

/**
 * The pool a `--pool PATH` option names, for the CLI and the gateway alike: a path ending in `.json` or an existing
 * file is the pool file; an existing directory, or any other path, is its directory (as CREDPOOL_HOME is), with
 * `pool.json` inside. Without the option, the default from the environment.
 */
export async function resolvePoolOption(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (given === undefined) return resolvePoolPath(env);
  if (given.endsWith(".json")) return given;
  const info = await stat(given).catch(() => undefined);
  if (info?.isFile()) return given;
  return join(given, POOL_FILE_NAME);
}
