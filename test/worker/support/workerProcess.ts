/**
 * The worker daemon (`apps/worker/src/main.ts`) as a child process, for tests that kill it.
 *
 * It runs as `node --import tsx main.ts` rather than through the `tsx` command: the `tsx` command
 * starts the script in a second Node process and only relays the signals it can catch, so a
 * SIGKILL sent to it would leave the real worker running. It is started with `@effect/platform`'s
 * `Command`, whose child leads its own process group; killing it SIGKILLs the whole group, so nothing
 * outlives the test.
 */
import { Command } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Data, Deferred, Effect, type Scope, Stream } from "effect"
import { fileURLToPath } from "node:url"

/** The monorepo's root directory. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** The worker's entry point. */
export const workerMain = fileURLToPath(new URL("../../../apps/worker/src/main.ts", import.meta.url))

/** The child could not be started, or exited on its own. */
export class WorkerProcessError extends Data.TaggedError("WorkerProcessError")<{ readonly message: string }> {}

/** A running worker child process. */
export interface WorkerProcess {
  readonly pid: number
  /** Everything the child wrote to stdout and stderr so far, interleaved. */
  readonly output: () => string
  /** Whether the child has exited. */
  readonly exited: () => boolean
  /** Sends SIGKILL to the child's process group and waits until the child is gone. */
  readonly kill: Effect.Effect<void>
}

/**
 * Starts the worker with `env` added to (and overriding) the test's environment; variables set to
 * `undefined` are removed. Its stdout and stderr are collected into `output`. The scope's finalizer
 * SIGKILLs its process group if it still runs (before `Command`'s own finalizer, which would send
 * SIGTERM and wait for a graceful exit that a paused child never makes).
 */
export const start = (
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<WorkerProcess, WorkerProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    const chunks: Array<string> = []
    const decoder = () => {
      const text = new TextDecoder()
      return (chunk: Uint8Array) => Effect.sync(() => chunks.push(text.decode(chunk, { stream: true })))
    }
    const childEnv: Record<string, string> = {}
    for (const [key, value] of Object.entries({ ...process.env, ...env })) {
      if (value !== undefined) childEnv[key] = value
    }
    const command = Command.make(process.execPath, "--import", "tsx", workerMain).pipe(
      Command.workingDirectory(repoRoot),
      Command.env(childEnv, { extendEnv: false })
    )
    const child = yield* Command.start(command).pipe(
      Effect.mapError((error) => new WorkerProcessError({ message: `could not start the worker: ${error.message}` })),
      Effect.provide(NodeContext.layer)
    )
    const gone = yield* Deferred.make<void>()
    let exited = false
    yield* Effect.forkScoped(Stream.runForEach(child.stdout, decoder()).pipe(Effect.ignore))
    yield* Effect.forkScoped(Stream.runForEach(child.stderr, decoder()).pipe(Effect.ignore))
    yield* Effect.forkScoped(
      Effect.exit(child.exitCode).pipe(
        Effect.zipRight(Effect.sync(() => {
          exited = true
        })),
        Effect.zipRight(Deferred.succeed(gone, undefined))
      )
    )
    const killGroup = Effect.sync(() => {
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        // The group is already gone.
      }
    })
    yield* Effect.addFinalizer(() =>
      exited ? Effect.void : killGroup.pipe(
        Effect.zipRight(Deferred.await(gone)),
        Effect.timeout("5 seconds"),
        Effect.ignore
      )
    )
    return {
      pid: child.pid,
      output: () => chunks.join(""),
      exited: () => exited,
      kill: Effect.zipRight(killGroup, Deferred.await(gone))
    }
  })
