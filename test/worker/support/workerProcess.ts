/**
 * The worker daemon (`apps/worker/src/main.ts`) as a child process, for tests that kill it.
 *
 * It runs as `node --import tsx main.ts` rather than through the `tsx` command: the `tsx` command
 * starts the script in a second Node process and only relays the signals it can catch, so a
 * SIGKILL sent to it would leave the real worker running. The child also leads its own process
 * group, and the finalizer SIGKILLs the whole group, so nothing outlives the test.
 */
import { Data, Deferred, Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
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
 * A port on 127.0.0.1 free at the moment, for a child process to listen on (and listen on again after a
 * restart). It is taken below Linux's ephemeral range (32768-60999): a port the OS hands out there
 * could meanwhile become the local port of any outgoing connection (every test talks over TCP), and a
 * replica restarted on it would fail with EADDRINUSE. Candidates are tried until one binds.
 */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const attempt = (left: number) => {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000)
    const server = createServer()
    server.once("error", () => {
      server.close()
      if (left > 0) attempt(left - 1)
      else resume(Effect.dieMessage("no free port found below the ephemeral range"))
    })
    server.listen(candidate, "127.0.0.1", () => server.close(() => resume(Effect.succeed(candidate))))
  }
  attempt(100)
})

const killGroup = (child: ChildProcess) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch {
    // The group is already gone.
  }
}

/**
 * Starts the worker with `env` added to (and overriding) the test's environment; variables set to
 * `undefined` are removed. The scope's finalizer SIGKILLs it if it still runs.
 */
export const start = (
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<WorkerProcess, WorkerProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    const chunks: Array<string> = []
    const gone = yield* Deferred.make<void>()
    const childEnv: Record<string, string> = {}
    for (const [key, value] of Object.entries({ ...process.env, ...env })) {
      if (value !== undefined) childEnv[key] = value
    }
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          spawn(process.execPath, ["--import", "tsx", workerMain], {
            cwd: repoRoot,
            env: childEnv,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true
          }),
        catch: (error) => new WorkerProcessError({ message: `could not start the worker: ${String(error)}` })
      }),
      (child) =>
        Effect.suspend(() => {
          if (child.exitCode !== null || child.signalCode !== null) return Effect.void
          killGroup(child)
          return Deferred.await(gone).pipe(Effect.timeout("5 seconds"), Effect.ignore)
        })
    )
    child.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk.toString("utf8")))
    child.stderr?.on("data", (chunk: Buffer) => chunks.push(chunk.toString("utf8")))
    child.on("exit", () => Deferred.unsafeDone(gone, Effect.void))
    child.on("error", (error) => {
      chunks.push(`[spawn error] ${String(error)}\n`)
      Deferred.unsafeDone(gone, Effect.void)
    })
    if (child.pid === undefined) {
      return yield* new WorkerProcessError({ message: "the worker process has no pid" })
    }
    return {
      pid: child.pid,
      output: () => chunks.join(""),
      exited: () => child.exitCode !== null || child.signalCode !== null,
      kill: Effect.suspend(() => {
        killGroup(child)
        return Deferred.await(gone)
      })
    }
  })
