import { defineConfig } from "vitest/config";

// Tests run against each package's TypeScript sources (the "kindling-source"
// export condition), so no build is needed between an edit and a test run.
export default defineConfig({
  resolve: {
    conditions: ["kindling-source"],
  },
  ssr: {
    resolve: {
      conditions: ["kindling-source"],
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "bench/test/**/*.test.ts", "scripts/test/**/*.test.ts"],
    setupFiles: ["./scripts/test/yield-between-tests.ts"],
    pool: "forks",
    // gc() lets tests check finalizer behaviour of native mappings.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } },
    testTimeout: 60_000,
    hookTimeout: 300_000,
    reporters: process.env.CI ? ["default"] : ["default"],
  },
});
