// Runs a node command under RLIMIT_FSIZE, to produce real short writes (write(2) returns less than asked).
import { fileURLToPath } from "node:url";

const PRELOAD = fileURLToPath(new URL("./ignore-sigxfsz.cjs", import.meta.url));

/**
 * The command line that runs `node <args>` with files limited to `bytes` (util-linux `prlimit`). Writing past the
 * limit writes what fits, then fails with EFBIG.
 */
export function nodeWithFileSizeLimit(bytes: number, args: readonly string[]): { command: string; args: string[] } {
  return { command: "prlimit", args: [`--fsize=${bytes}:${bytes}`, "--", process.execPath, "-r", PRELOAD, ...args] };
}
