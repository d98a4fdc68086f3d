/**
 * The CLI's standard input: whether it is a terminal (a person who can be prompted) and its whole
 * text (JSON piped in with `--stdin`). A service so that tests give a command its input without a
 * process; `layer` is the process's own.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { CliError } from "./CliError.js"

/**
 * The most standard input `readAll` takes: secrets for one member are a few hundred bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBytes = 64 * 1024

/**
 * Standard input.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Standard input is a terminal: a person is there to answer prompts. */
  readonly isTerminal: Effect.Effect<boolean>
  /** Everything up to the end of input (UTF-8), at most `maxBytes`. */
  readonly readAll: Effect.Effect<string, CliError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class StandardInput extends Context.Tag("@mx-aggregation/worker/cli/StandardInput")<StandardInput, Service>() {}

/**
 * Reads a Node readable stream to its end, failing past `limit` bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readStream = (stream: NodeJS.ReadableStream, limit: number = maxBytes): Effect.Effect<string, CliError> =>
  Effect.async<string, CliError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const cleanup = () => {
      stream.off("data", onData)
      stream.off("end", onEnd)
      stream.off("error", onError)
    }
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk
      size += bytes.length
      if (size > limit) {
        cleanup()
        stream.pause()
        resume(
          Effect.fail(new CliError({ reason: "Usage", message: `--stdin: more than ${limit} bytes on standard input` }))
        )
        return
      }
      chunks.push(bytes)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.fail(new CliError({ reason: "Failed", message: `cannot read standard input: ${error.message}` })))
    }
    stream.on("data", onData)
    stream.on("end", onEnd)
    stream.on("error", onError)
    stream.resume()
    return Effect.sync(cleanup)
  })

/**
 * The process's standard input.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<StandardInput> = Layer.sync(StandardInput, () =>
  StandardInput.of({
    isTerminal: Effect.sync(() => process.stdin.isTTY === true),
    readAll: Effect.suspend(() => readStream(process.stdin))
  }))
