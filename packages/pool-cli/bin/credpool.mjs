#!/usr/bin/env node
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = new URL("../bundle/main.js", import.meta.url);
let main;
try {
  ({ main } = await import(bundle.href));
} catch (error) {
  // `pnpm install` builds the bundle (the root `prepare` script); a checkout that skipped it gets one line, not a
  // module-resolution stack trace. See test/shim.test.ts.
  if (existsSync(bundle)) throw error;
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  process.stderr.write(
    `credpool: the CLI is not built yet (no ${fileURLToPath(bundle)}). Run \`pnpm run build\` in ${root} first.\n`,
  );
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
