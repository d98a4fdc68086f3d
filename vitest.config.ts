import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // `.ci/run`'s second runtime runs the suites without daemon fleets (see test/vitest.config.ts), which
    // wait on I/O more than they compute: two files at a time there (vitest's default on 2 cores is one).
    ...(process.env.CI_SECOND_RUNTIME === "1" ? { maxWorkers: 2, minWorkers: 1 } : {})
  }
})
