import { defineConfig } from "vitest/config"

/** Cross-package tests: end-to-end, conformance, reliability. PostgreSQL is embedded unless PG_URL is set. */
export default defineConfig({
  test: {
    name: "@mx-aggregation/test",
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/build/**"],
    globalSetup: ["./support/embeddedPostgres.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
