import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // Two files at a time (vitest's default on 2 cores is one): the everyday suites wait on I/O (HTTP on
    // 127.0.0.1, SQLite, PostgreSQL) more than they compute. The fleet suites (`npm run test:fleet`)
    // run worker daemons of their own: one file at a time.
    ...(process.env.MX_TEST_SUITES === "fleet" ? { maxWorkers: 1, minWorkers: 1 } : { maxWorkers: 2, minWorkers: 1 })
  }
})
