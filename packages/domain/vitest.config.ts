import { defineConfig } from "vitest/config"

/**
 * Domain tests: mostly fast-check properties (100 runs each by default), which take a second or two
 * alone and several times that on a loaded 2-core machine; the limit is a guard against a hang, not a
 * measure of speed.
 */
export default defineConfig({
  test: {
    name: "@mx-aggregation/domain",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000
  }
})
