/**
 * `mx-aggregation worker`: runs the daemon, exactly as `npm start` does (`Daemon.MainLive`, configured
 * from the environment), until SIGINT/SIGTERM. `--port` and `--host` override `WORKER_PORT` and
 * `WORKER_HOST`.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { CliError, describe } from "./CliError.js"

/**
 * Runs an effect with some configuration keys set, the rest read as before (the environment).
 *
 * @since 0.1.0
 * @category configuration
 */
export const withOverrides =
  (overrides: ReadonlyArray<readonly [string, Option.Option<string>]>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const set = overrides.flatMap(([key, value]) => Option.isSome(value) ? [[key, value.value] as const] : [])
    if (set.length === 0) return effect
    return Effect.configProviderWith((current) =>
      Effect.withConfigProvider(effect, ConfigProvider.orElse(ConfigProvider.fromMap(new Map(set)), () => current))
    )
  }

/**
 * A failure of a daemon (invalid configuration, a port in use, an unreachable database) as one line.
 *
 * @since 0.1.0
 * @category errors
 */
export const failed = (what: string) => (error: unknown): CliError =>
  new CliError({
    reason: "Failed",
    message: `${what}: ${describe(error)}`
  })

/**
 * `worker [--port n] [--host h]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "worker",
  {
    port: Options.integer("port").pipe(
      Options.withDescription("The control API's port (env WORKER_PORT, default 8787)"),
      Options.optional
    ),
    host: Options.text("host").pipe(
      Options.withDescription("The control API's address (env WORKER_HOST, default 127.0.0.1)"),
      Options.optional
    )
  },
  (options) =>
    // Loaded on use: the daemon's modules are most of the CLI's start-up time.
    Effect.promise(() => import("../Daemon.js")).pipe(
      Effect.flatMap(({ MainLive }) => Layer.launch(MainLive)),
      withOverrides([
        ["WORKER_PORT", Option.map(options.port, String)],
        ["WORKER_HOST", options.host]
      ]),
      Effect.mapError(failed("The worker stopped"))
    )
).pipe(Command.withDescription("Run the worker daemon (configured by the environment, like npm start)"))
