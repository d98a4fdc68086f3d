/**
 * Logs in JSON or pretty form with secrets redacted, the logger that replaces NodeRuntime's, and
 * `WORKER_LOG_LEVEL`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Logging } from "@mx-aggregation/worker"
import { ConfigProvider, type Console, Effect, Either, Logger, Redacted } from "effect"
import { format } from "node:util"

/** Captures what loggers print through the Console service. */
const capturingConsole = Effect.map(Effect.console, (real) => {
  const lines: Array<string> = []
  const push = (...args: ReadonlyArray<unknown>) => {
    lines.push(format(...args))
  }
  const unsafe = { ...globalThis.console, log: push, info: push, warn: push, error: push, debug: push }
  return { console: { ...real, unsafe } as Console.Console, lines }
})

describe("logs", () => {
  const secret = "s3cret-answer-91f3"

  const logSomething = Effect.gen(function*() {
    yield* Effect.logInfo("MFA answers sent", Redacted.make(secret), { answer: Redacted.make(secret) }).pipe(
      Effect.annotateLogs({ memberGuid: "MBR-log-1", token: Redacted.make(secret) })
    )
    yield* Effect.logWarning("MX call failed").pipe(
      Effect.annotateLogs({ memberGuid: "MBR-log-2" }),
      Effect.withLogSpan("poll")
    )
    yield* Effect.logError("failed", new Error(`boom ${String(Redacted.make(secret))}`))
  })

  it.effect("JSON: one object per line with the member guid, secrets printed as <redacted>", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capturingConsole
      yield* logSomething.pipe(Effect.provide(Logging.loggerLayer("json")), Effect.withConsole(console))
      assert.strictEqual(lines.length, 3)
      const entries = lines.map((line) => JSON.parse(line))
      assert.strictEqual(entries[0].annotations.memberGuid, "MBR-log-1")
      assert.strictEqual(entries[0].annotations.token, "<redacted>")
      assert.deepStrictEqual(entries[0].message, ["MFA answers sent", "<redacted>", { answer: "<redacted>" }])
      assert.strictEqual(entries[1].logLevel, "WARN")
      assert.property(entries[1].spans, "poll")
      for (const line of lines) assert.notInclude(line, secret)
    }))

  it.effect("pretty: human-readable, secrets printed as <redacted>", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capturingConsole
      yield* logSomething.pipe(Effect.provide(Logging.loggerLayer("pretty")), Effect.withConsole(console))
      const text = lines.join("\n")
      assert.include(text, "MFA answers sent")
      assert.include(text, "MBR-log-1")
      assert.include(text, "<redacted>")
      assert.notInclude(text, secret)
      assert.throws(() => JSON.parse(lines[0]!))
    }))

  it.effect("replaces the pretty logger that NodeRuntime.runMain installs: each line printed once", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capturingConsole
      yield* Effect.logInfo("once").pipe(
        Effect.provide(Logging.loggerLayer("json")),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLoggerDefault)),
        Effect.withConsole(console)
      )
      assert.strictEqual(lines.length, 1)
      assert.strictEqual(JSON.parse(lines[0]!).message, "once")
    }))

  it.effect("auto: pretty on a terminal, JSON otherwise", () =>
    Effect.gen(function*() {
      const wasTTY = process.stdout.isTTY
      const linesWhen = (isTTY: boolean) =>
        Effect.gen(function*() {
          const { console, lines } = yield* capturingConsole
          process.stdout.isTTY = isTTY
          const layer = Logging.loggerLayer("auto")
          process.stdout.isTTY = wasTTY
          yield* Effect.logInfo("hello").pipe(Effect.provide(layer), Effect.withConsole(console))
          return lines
        })
      const notTerminal = yield* linesWhen(false)
      assert.strictEqual(JSON.parse(notTerminal[0]!).message, "hello")
      const terminal = yield* linesWhen(true)
      assert.throws(() => JSON.parse(terminal[0]!))
      assert.include(terminal[0]!, "hello")
    }))
})

describe("WORKER_LOG_LEVEL", () => {
  const read = (value: string) =>
    Logging.logLevelConfig.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WORKER_LOG_LEVEL", value]]))),
      Effect.either
    )

  it.effect("takes Effect's levels in any case, and Warning for Warn", () =>
    Effect.gen(function*() {
      for (const [value, label] of [["Debug", "DEBUG"], ["info", "INFO"], ["Warning", "WARN"], ["WARN", "WARN"]]) {
        const level = yield* read(value!)
        assert.isTrue(Either.isRight(level), value)
        assert.strictEqual(Either.getOrThrow(level).label, label)
      }
    }))

  it.effect("refuses anything else with a message naming the levels", () =>
    Effect.gen(function*() {
      const level = yield* read("loud")
      assert.isTrue(Either.isLeft(level))
      assert.match(String(Either.getLeft(level).pipe((o) => o._tag === "Some" ? o.value : "")), /must be one of .*WARN/)
    }))
})
