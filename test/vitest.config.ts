import { defineConfig } from "vitest/config"

/** Cross-package tests: end-to-end, conformance, reliability. PostgreSQL is embedded unless PG_URL is set. */
export default defineConfig({
  test: {
    name: "@mx-aggregation/test",
    include: ["**/*.test.ts"],
    exclude: [
      "**/node_modules/**",
      "**/build/**",
      // `.ci/run`'s second runtime leaves out the suites that run fleets of worker daemons for minutes
      // (they run on the first one) to stay within CI's time budget.
      ...(process.env.CI_SECOND_RUNTIME === "1" ? ["reliability/**", "worker/failover.test.ts"] : [])
    ],
    globalSetup: ["./support/embeddedPostgres.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
