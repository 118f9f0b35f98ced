// Bundles the compiled CLI into bundle/: one file per lazily loaded command instead of ~150 ESM modules, which is
// most of `credpool list`'s start-up cost (see bench/groups/cli.mjs, cli.list.vs_floor).
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = `${root}bundle`;
await rm(outdir, { recursive: true, force: true });
await build({
  // The store's commit worker is loaded by URL next to the chunk that starts it, so it gets its own entry.
  entryPoints: {
    main: `${root}dist/main.js`,
    "commit-worker": `${root}../pool-core/dist/store/commit-worker.js`,
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // Loaded only when a PostgreSQL store is chosen, from the installed package, so its driver stays out of the bundle.
  external: ["@credpool/pool-postgres"],
  // Bundled CommonJS dependencies still call require() for Node built-ins, and write-file-atomic names its temp
  // files from __filename.
  banner: {
    js: [
      "import { createRequire as __credpoolRequire } from 'node:module';",
      "import { fileURLToPath as __credpoolPath } from 'node:url';",
      "const require = __credpoolRequire(import.meta.url);",
      "const __filename = __credpoolPath(import.meta.url);",
      "const __dirname = __credpoolPath(new URL('.', import.meta.url));",
    ].join(" "),
  },
});
