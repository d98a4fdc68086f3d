/**
 * Production never loads the MX simulator: the daemon (`apps/worker/src/main.ts`) started as a child
 * process with MX credentials records every module it resolves (a `node --import` hook), and none is
 * of `@mx-aggregation/mx-sandbox`; the embedded demo, started the same way, does load it (through
 * `Demo`'s dynamic import), which shows the check can fail.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "../support/freePort.js"
import { controlApi, eventually, tempDir } from "../worker/support/daemonHarness.js"
import * as WorkerProcess from "../worker/support/workerProcess.js"

const recorder = fileURLToPath(new URL("./support/recordModules.mjs", import.meta.url))
const token = "production-modules-token-0123456789abcdef"

/** Starts the daemon with `env`, waits until its control API answers, stops it; returns the modules it resolved. */
const modulesOf = (env: Readonly<Record<string, string | undefined>>) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = yield* tempDir("mx-modules-")
    const log = join(dir, "modules.log")
    const port = yield* freePort
    const worker = yield* WorkerProcess.start({
      // Every setting of the test runner's environment that could pick a mode is replaced.
      DATABASE_URL: undefined,
      MX_BASE_URL: undefined,
      WORKER_DEMO: undefined,
      SQLITE_FILE: join(dir, "worker.sqlite"),
      WORKER_PORT: String(port),
      WORKER_HOST: "127.0.0.1",
      WORKER_API_TOKEN: token,
      NODE_OPTIONS: `--import=${recorder}`,
      MX_TEST_MODULES_LOG: log,
      ...env
    })
    const api = yield* controlApi(port, token)
    yield* eventually(
      "the control API answers",
      api.health.health().pipe(
        Effect.as(true),
        Effect.catchAll(() =>
          worker.exited() ? Effect.dieMessage(`the worker exited:\n${worker.output()}`) : Effect.succeed(undefined)
        )
      ),
      "60 seconds"
    )
    yield* worker.kill
    return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((line) => line.length > 0) : []
  })).pipe(Effect.provide(NodeHttpClient.layerUndici))

const sandboxModules = (modules: ReadonlyArray<string>) => modules.filter((url) => url.includes("/mx-sandbox/"))

describe("the modules the daemon loads", () => {
  it.live("with MX credentials: the MX client and the store, never the simulator", () =>
    Effect.gen(function*() {
      const modules = yield* modulesOf({
        MX_CLIENT_ID: "production-modules-client",
        MX_API_KEY: "production-modules-api-key",
        // Nothing is tracked, so the worker never calls MX; a refused port if it did.
        MX_BASE_URL: "http://127.0.0.1:1"
      })
      assert.isTrue(modules.some((url) => url.includes("/packages/mx-api/src/MxClient.ts")), "the hook recorded")
      assert.isTrue(modules.some((url) => url.includes("/apps/worker/src/Daemon.ts")))
      assert.deepStrictEqual(sandboxModules(modules), [])
      assert.isFalse(modules.some((url) => url.includes("/apps/worker/src/Demo.ts")))
    }), 180_000)

  it.live("the embedded demo: the simulator, through Demo's dynamic import", () =>
    Effect.gen(function*() {
      const modules = yield* modulesOf({ WORKER_DEMO: "true", WORKER_DEMO_MEMBERS: "1" })
      assert.isTrue(modules.some((url) => url.includes("/apps/worker/src/Demo.ts")))
      assert.isNotEmpty(sandboxModules(modules))
    }), 180_000)
})
