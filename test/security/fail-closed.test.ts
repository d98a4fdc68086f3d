/**
 * The worker fails closed: its embedded demo (an in-process MX sandbox that seeds fake members into the
 * database) starts only when nothing points at real infrastructure, or when asked for with
 * `WORKER_DEMO=true`. Half a configuration is a start-up error that names the variables, never the
 * demo; MX's base URL must be https (http only on loopback), and the control token long when the worker
 * talks to MX. Secrets and `DATABASE_URL` never appear in the messages.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { WorkerConfig } from "@mx-aggregation/worker"
import * as Cli from "@mx-aggregation/worker/cli/Cli"
import * as StandardInput from "@mx-aggregation/worker/cli/StandardInput"
import { MainLive } from "@mx-aggregation/worker/Daemon"
import { ConfigProvider, Console, Effect, Either, Exit, Layer, Option, Redacted } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../support/freePort.js"

const fromEnv = (env: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(env)))

const parse = (env: Record<string, string>) =>
  Effect.either(Effect.withConfigProvider(WorkerConfig.config, fromEnv(env)))

const apiKey = "mx-api-key-that-must-never-be-printed"
const pgUrl = "postgres://worker:db-password-never-printed@127.0.0.1:1/mx"
const longToken = "t".repeat(WorkerConfig.minimumApiTokenLength)
const mx = { MX_CLIENT_ID: "client-id", MX_API_KEY: apiKey, WORKER_API_TOKEN: longToken }

/** The configuration is refused with a message naming every one of `variables`, and no secret. */
const refused = (env: Record<string, string>, ...variables: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const config = yield* parse(env)
    assert(Either.isLeft(config), `accepted: ${JSON.stringify(Object.keys(env))}`)
    const message = String(config.left)
    for (const variable of variables) assert.include(message, variable)
    for (const secret of [apiKey, "db-password-never-printed", longToken]) assert.notInclude(message, secret)
    return message
  })

const accepted = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const config = yield* parse(env)
    assert(Either.isRight(config), Either.isLeft(config) ? String(config.left) : "")
    return config.right
  })

describe("which mode the worker starts in", () => {
  it.effect("the demo with nothing set, or with WORKER_DEMO=true whatever the database", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone((yield* accepted({})).mx))
      assert.isTrue(Option.isNone((yield* accepted({ SQLITE_FILE: "/tmp/x.db", WORKER_API_TOKEN: "short" })).mx))
      assert.isTrue(Option.isNone((yield* accepted({ WORKER_DEMO: "true", DATABASE_URL: pgUrl })).mx))
    }))

  it.effect("MX with both credentials", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* accepted(mx)).mx, Option.some({ clientId: "client-id" }))
      assert.deepStrictEqual(
        (yield* accepted({ ...mx, DATABASE_URL: pgUrl })).mx,
        Option.some({ clientId: "client-id" })
      )
    }))

  it.effect("a DATABASE_URL without MX credentials is an error, never the demo seeded into it", () =>
    Effect.gen(function*() {
      for (const url of [pgUrl, "postgresql://u@db.example:5432/x", "sqlite:/tmp/elsewhere.db"]) {
        yield* refused({ DATABASE_URL: url }, "DATABASE_URL", "MX_CLIENT_ID", "MX_API_KEY", "WORKER_DEMO")
      }
    }))

  it.effect("one MX credential without the other is an error naming the missing one", () =>
    Effect.gen(function*() {
      yield* refused({ MX_CLIENT_ID: "client-id", WORKER_API_TOKEN: longToken }, "MX_API_KEY")
      yield* refused({ MX_API_KEY: apiKey, WORKER_API_TOKEN: longToken }, "MX_CLIENT_ID")
      yield* refused({ MX_CLIENT_ID: "client-id", DATABASE_URL: pgUrl }, "MX_API_KEY")
    }))

  it.effect("any other MX_* variable without credentials is an error, not the demo", () =>
    Effect.gen(function*() {
      for (const name of ["MX_BASE_URL", "MX_RATE_LIMIT", "MX_MAX_CONCURRENCY", "MX_REQUEST_TIMEOUT"]) {
        yield* refused({ [name]: name === "MX_BASE_URL" ? "https://api.mx.com" : "5" }, name, "MX_CLIENT_ID")
      }
    }))

  it.effect("WORKER_DEMO=true with MX credentials, or WORKER_DEMO=false without them, is an error", () =>
    Effect.gen(function*() {
      yield* refused({ ...mx, WORKER_DEMO: "true" }, "WORKER_DEMO")
      yield* refused({ WORKER_DEMO: "false" }, "MX_CLIENT_ID", "MX_API_KEY")
      yield* refused({ WORKER_DEMO: "maybe" }, "WORKER_DEMO")
    }))
})

describe("talking to MX", () => {
  it.effect("MX_BASE_URL must be https; http only for 127.0.0.1, ::1 or localhost", () =>
    Effect.gen(function*() {
      for (
        const url of [
          "https://api.mx.com",
          "https://int-api.mx.com/",
          "http://127.0.0.1:8089",
          "http://[::1]:80",
          "http://localhost:1"
        ]
      ) {
        yield* accepted({ ...mx, MX_BASE_URL: url })
      }
      for (
        const url of [
          "http://api.mx.com",
          "http://127.0.0.1.example.com",
          "http://localhost.example.com",
          "http://10.0.0.5:8089",
          "ftp://api.mx.com",
          "api.mx.com",
          ""
        ]
      ) {
        yield* refused({ ...mx, MX_BASE_URL: url }, "MX_BASE_URL")
      }
    }))

  it.effect(`WORKER_API_TOKEN must be set and at least ${WorkerConfig.minimumApiTokenLength} characters`, () =>
    Effect.gen(function*() {
      const { WORKER_API_TOKEN: _, ...withoutToken } = mx
      yield* refused(withoutToken, "WORKER_API_TOKEN")
      yield* refused({ ...mx, WORKER_API_TOKEN: longToken.slice(1) }, "WORKER_API_TOKEN", "32")
      assert.strictEqual(Redacted.value(Option.getOrThrow((yield* accepted(mx)).apiToken)), longToken)
    }))
})

/** Whether anything accepts connections on the port. */
const listening = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.on("error", () => resume(Effect.succeed(false)))
  })

describe("the daemon refuses to start half-configured", () => {
  it.live(
    "a DATABASE_URL without MX credentials: nothing listens, and the database is never opened",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "mx-fail-closed-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const port = yield* freePort
        const database = join(dir, "elsewhere.db")
        for (const url of [`sqlite:${database}`, pgUrl]) {
          const exit = yield* Effect.exit(
            Effect.scoped(Layer.build(MainLive)).pipe(
              Effect.withConfigProvider(fromEnv({ DATABASE_URL: url, WORKER_PORT: String(port) }))
            )
          )
          assert(Exit.isFailure(exit))
          assert.include(String(exit.cause), "DATABASE_URL")
          assert.notInclude(String(exit.cause), "db-password-never-printed")
        }
        assert.isFalse(existsSync(database), "the SQLite file was not created, let alone seeded")
        assert.isFalse(yield* listening(port))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("`mx-aggregation worker` prints one line naming the variables and exits 1", () =>
    Effect.gen(function*() {
      const errors: Array<string> = []
      const console = yield* Console.consoleWith(Effect.succeed)
      const code = yield* Cli.main(["node", "mx-aggregation", "worker"]).pipe(
        Console.withConsole({
          ...console,
          log: () => Effect.void,
          error: (...args) => Effect.sync(() => void errors.push(args.map(String).join(" ")))
        }),
        Effect.withConfigProvider(fromEnv({ MX_CLIENT_ID: "client-id", WORKER_API_TOKEN: longToken })),
        Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, StandardInput.layer))
      )
      assert.strictEqual(code, 1)
      assert.strictEqual(errors.length, 1)
      assert.include(errors[0], "MX_API_KEY")
      assert.notInclude(errors[0], longToken)
    }), 60_000)
})
