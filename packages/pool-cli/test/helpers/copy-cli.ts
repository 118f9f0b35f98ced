// A copy of the built CLI outside the checkout, for runs that must not depend on where the checkout lives.
import { chmod, cp, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Copies the CLI's `bin/` (and `bundle/`, unless `withBundle` is false) into `dir`, readable by every user, and
 * returns the copied shim. A child running as another user cannot always reach the checkout (a clone inside a
 * 0700 directory), and the bundle needs nothing outside itself.
 */
export async function copyCli(dir: string, options: { withBundle?: boolean } = {}): Promise<string> {
  const parts = options.withBundle === false ? ["bin"] : ["bin", "bundle"];
  for (const part of parts) await cp(join(PACKAGE_DIR, part), join(dir, part), { recursive: true });
  await chmod(dir, 0o755);
  for (const part of parts) {
    await chmod(join(dir, part), 0o755);
    for (const name of await readdir(join(dir, part))) await chmod(join(dir, part, name), 0o644);
  }
  return join(dir, "bin", "credpool.mjs");
}
