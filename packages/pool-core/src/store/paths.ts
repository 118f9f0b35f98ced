// Where the pool lives: $CREDPOOL_HOME, else $XDG_CONFIG_HOME/credpool, else ~/.config/credpool.
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
