/**
 * The terminal prompts draw on: the platform's terminal (keystrokes from standard input), drawing on
 * standard error instead of standard output, so that what a command prints (a table, `--json` for a
 * program) stays the only thing on standard output while a person answers prompts.
 *
 * @since 0.1.0
 */
import { Error as PlatformError, Terminal } from "@effect/platform"
import { Effect, Layer } from "effect"

/**
 * Replaces the `Terminal` it is given with one that draws on standard error.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Terminal.Terminal, never, Terminal.Terminal> = Layer.effect(
  Terminal.Terminal,
  Effect.map(Terminal.Terminal, (terminal) =>
    Terminal.Terminal.of({
      ...terminal,
      columns: Effect.sync(() => process.stderr.columns ?? 0),
      rows: Effect.sync(() => process.stderr.rows ?? 0),
      display: (text) =>
        Effect.async<void, PlatformError.PlatformError>((resume) => {
          process.stderr.write(text, (error) =>
            resume(
              error
                ? Effect.fail(
                  new PlatformError.SystemError({
                    reason: "Unknown",
                    module: "Terminal",
                    method: "display",
                    description: "cannot write a prompt to standard error",
                    cause: error
                  })
                )
                : Effect.void
            ))
        })
    }))
)
