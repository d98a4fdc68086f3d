/**
 * The worker's logs: one JSON object per line when stdout is not a terminal (pretty otherwise),
 * annotated with member guids and run ids. `Redacted` values print as `<redacted>` in both formats.
 *
 * @since 0.1.0
 */
import { Config, ConfigError, Effect, Either, FiberRef, HashSet, Layer, Logger, LogLevel, Option } from "effect"

/**
 * The log format: `json` (one JSON object per line, with annotations such as `memberGuid` and the
 * spans), `pretty` (for a terminal), or `auto` (pretty on a terminal, JSON otherwise).
 *
 * @since 0.1.0
 * @category logs
 */
export type LogFormat = "json" | "pretty" | "auto"

/**
 * The logger of a format. `Redacted` values print as `<redacted>` in both formats.
 *
 * @since 0.1.0
 * @category logs
 */
export const logger = (format: LogFormat = "auto"): Logger.Logger<unknown, void> =>
  (format === "auto" ? process.stdout.isTTY === true : format === "pretty")
    ? Logger.prettyLogger()
    : Logger.withConsoleLog(Logger.jsonLogger)

/**
 * Replaces the default logger: pretty on a terminal, JSON otherwise (or as asked). It also removes
 * the pretty logger that `NodeRuntime.runMain` installs, so that each line is printed once.
 *
 * @since 0.1.0
 * @category logs
 */
export const loggerLayer = (format: LogFormat = "auto"): Layer.Layer<never> => {
  const chosen = logger(format)
  return Layer.scopedDiscard(
    Effect.locallyScopedWith(
      FiberRef.currentLoggers,
      (loggers) =>
        loggers.pipe(
          HashSet.remove(Logger.defaultLogger),
          HashSet.remove(Logger.prettyLoggerDefault),
          HashSet.add(chosen)
        )
    )
  )
}

const logLevels = LogLevel.allLevels.map((l) => l.label)

/**
 * `WORKER_LOG_LEVEL`: one of Effect's levels (`Debug`, `Info`, `Warn` or `Warning`, `Error`…), in any
 * case.
 *
 * @since 0.1.0
 * @category logs
 */
export const logLevelConfig: Config.Config<LogLevel.LogLevel> = Config.string("WORKER_LOG_LEVEL").pipe(
  Config.mapOrFail((raw) => {
    const label = raw.trim().toUpperCase()
    const level = LogLevel.allLevels.find((l) => l.label === (label === "WARNING" ? "WARN" : label))
    return level === undefined
      ? Either.left(
        ConfigError.InvalidData([], `WORKER_LOG_LEVEL must be one of ${logLevels.join(", ")} (got "${raw}")`)
      )
      : Either.right(level)
  })
)

/**
 * `loggerLayer` from `WORKER_LOG_FORMAT` (`json`, `pretty`, `auto`; default `auto`) and
 * `WORKER_LOG_LEVEL` (`Debug`, `Info`, `Warning`, `Error`…; default `Info`).
 *
 * @since 0.1.0
 * @category logs
 */
export const loggerLayerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const format = yield* Config.literal("json", "pretty", "auto")("WORKER_LOG_FORMAT").pipe(
      Config.withDefault("auto" as const)
    )
    const level = yield* logLevelConfig.pipe(Config.option)
    return Layer.mergeAll(
      loggerLayer(format),
      Option.match(level, { onNone: () => Layer.empty, onSome: Logger.minimumLogLevel })
    )
  })
)
