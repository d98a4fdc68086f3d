import { defineConfig } from "vitest/config"

/** Store tests run on SQLite and on PostgreSQL; the globalSetup starts an embedded PostgreSQL unless PG_URL is set. */
export default defineConfig({
  test: {
    name: "@mx-aggregation/store",
    include: ["test/**/*.test.ts"],
    globalSetup: ["../../test/support/embeddedPostgres.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
