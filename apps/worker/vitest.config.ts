import { defineConfig } from "vitest/config"

/** Worker tests; the globalSetup starts an embedded PostgreSQL unless PG_URL is set. */
export default defineConfig({
  test: {
    name: "@mx-aggregation/worker",
    include: ["test/**/*.test.ts"],
    globalSetup: ["../../test/support/embeddedPostgres.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
