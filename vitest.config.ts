import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// In-process tests load the workspace packages from `src`, so running one suite after an edit tests that edit and
// not a stale `dist`: each entry in a package's `exports` map (`./dist/x.js`) is aliased to its source
// (`./src/x.ts`). Multi-process suites spawn children that run the built packages, so `pnpm test` builds first.
// see test/source-resolution.test.ts
function aliasPackageSources(names: readonly string[]): { find: RegExp; replacement: string }[] {
  return names.flatMap((name) => {
    const dir = fileURLToPath(new URL(`packages/${name}/`, import.meta.url));
    const manifest = JSON.parse(readFileSync(`${dir}package.json`, "utf8")) as {
      exports: Record<string, { default: string }>;
    };
    return Object.entries(manifest.exports).map(([subpath, target]) => ({
      find: new RegExp(`^@credpool/${name}${subpath.slice(1).replace(/[/.]/g, "\\$&")}$`),
      replacement: dir + target.default.replace(/^\.\/dist\/(.*)\.js$/, "src/$1.ts"),
    }));
  });
}

export default defineConfig({
  resolve: { alias: aliasPackageSources(["pool-core", "pool-postgres", "pool-gateway", "pool-cli"]) },
  test: {
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "pool-core", include: ["packages/pool-core/test/**/*.test.ts"] } },
      { extends: true, test: { name: "pool-cli", include: ["packages/pool-cli/test/**/*.test.ts"] } },
      { extends: true, test: { name: "pool-gateway", include: ["packages/pool-gateway/test/**/*.test.ts"] } },
      // Process-heavy suites run one file at a time so their contention figures are not skewed by each other.
      { extends: true, test: { name: "integration", include: ["test/**/*.test.ts"], fileParallelism: false } },
    ],
  },
});
