import { defineConfig } from "vitest/config"

/**
 * The suites that run fleets of worker daemons for minutes (the reliability subset, the failover of a
 * killed replica): `npm run test:fleet` runs them (`MX_TEST_SUITES=fleet`), `npm test` the others.
 */
export const fleetSuites = ["reliability/**", "worker/failover.test.ts"]

const fleet = process.env.MX_TEST_SUITES === "fleet"

/** Cross-package tests: end-to-end, conformance, reliability. PostgreSQL is embedded unless PG_URL is set. */
export default defineConfig({
  test: {
    name: "@mx-aggregation/test",
    include: fleet
      ? fleetSuites.map((suite) => suite.endsWith("/**") ? `${suite}/*.test.ts` : suite)
      : ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/build/**", ...(fleet ? [] : fleetSuites)],
    globalSetup: ["./support/embeddedPostgres.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
