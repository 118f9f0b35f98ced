import { defineConfig } from "vitest/config";

// Multi-process suites spawn children that run the built packages, so `pnpm test` builds first.
export default defineConfig({
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
