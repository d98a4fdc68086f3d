/**
 * The worker replicas of a scale phase: each the worker daemon (`apps/worker/src/main.ts`) as a child
 * process in its own process group (test/worker/support/workerProcess.ts), with its own control-API
 * and cluster-runner ports on 127.0.0.1. They are started one after the other, each once the previous
 * one's `/health` answered. Their CPU time and peak RSS come from `/proc`, their warnings from their
 * JSON log lines.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import { Effect, type Scope } from "effect"
import { freePort } from "../../test/support/freePort.js"
import * as Harness from "../../test/worker/support/daemonHarness.js"
import * as WorkerProcess from "../../test/worker/support/workerProcess.js"
import * as SandboxProcess from "../SandboxProcess.js"

/**
 * The control API's client.
 *
 * @since 0.1.0
 * @category models
 */
export type ControlApiClient = Effect.Effect.Success<ReturnType<typeof Harness.controlApi>>

/**
 * One running replica.
 *
 * @since 0.1.0
 * @category models
 */
export interface Replica {
  readonly index: number
  readonly pid: number
  readonly api: ControlApiClient
  /** Real milliseconds from the start of the fleet until its `/health` answered. */
  readonly readyAfterMs: number
  /** CPU time it had used when `/health` answered (tsx, migrations, the engine's start). */
  readonly startupCpuMs: number
  readonly usage: () => SandboxProcess.Usage | null
  readonly exited: () => boolean
  readonly output: () => string
}

/**
 * The ports one replica listens on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ports {
  readonly port: number
  readonly runnerPort: number
}

// Every replica's process group, SIGKILLed when this process exits however it exits: the replicas
// lead their own process groups, so a Ctrl-C in the terminal does not reach them.
const groups = new Set<number>()

/**
 * SIGKILLs every replica's process group still registered (synchronous: for `process.on("exit")`).
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const killAll = (): void => {
  for (const pid of groups) {
    try {
      process.kill(-pid, "SIGKILL")
    } catch {
      // Already gone.
    }
  }
  groups.clear()
}

/**
 * Whether any replica is still registered (not yet killed by its scope).
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const anyRunning = (): boolean => groups.size > 0

/**
 * Starts `count` replicas one after the other with the environment `env` gives each (added to this
 * process's). They are killed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  count: number,
  token: string,
  env: (index: number, ports: Ports) => Readonly<Record<string, string | undefined>>
): Effect.Effect<
  ReadonlyArray<Replica>,
  WorkerProcess.WorkerProcessError | Harness.Timeout,
  Scope.Scope | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const replicas: Array<Replica> = []
    for (let index = 0; index < count; index++) {
      const ports = { port: yield* freePort, runnerPort: yield* freePort }
      const api = yield* Harness.controlApi(ports.port, token)
      const worker = yield* WorkerProcess.start(env(index, ports))
      groups.add(worker.pid)
      yield* Effect.addFinalizer(() => Effect.sync(() => groups.delete(worker.pid)))
      yield* Harness.eventually(
        `replica ${index + 1}'s control API answers`,
        api.health.health().pipe(
          Effect.as(true),
          Effect.catchAll(() =>
            worker.exited()
              ? Effect.dieMessage(`replica ${index + 1} exited during start-up:\n${tail(worker.output())}`)
              : Effect.succeed(undefined)
          )
        ),
        // The first replica may be busy with the members while the next one compiles and starts.
        "120 seconds"
      )
      replicas.push({
        index,
        pid: worker.pid,
        api,
        readyAfterMs: Date.now() - startedAt,
        startupCpuMs: SandboxProcess.usageOf(worker.pid)?.cpuMs ?? 0,
        usage: () => SandboxProcess.usageOf(worker.pid),
        exited: worker.exited,
        output: worker.output
      })
    }
    return replicas
  })

/**
 * The last lines of a replica's output.
 *
 * @since 0.1.0
 * @category logs
 */
export const tail = (output: string, lines = 30): string => output.trimEnd().split("\n").slice(-lines).join("\n")

/**
 * Warning-and-worse lines of replicas' JSON logs (`WORKER_LOG_FORMAT=json`), counted by level and
 * message; a line that is not JSON counts by its first 160 characters.
 *
 * @since 0.1.0
 * @category logs
 */
export const warnings = (outputs: ReadonlyArray<string>): ReadonlyArray<readonly [string, number]> => {
  const counts = new Map<string, number>()
  for (const output of outputs) {
    for (const line of output.split("\n")) {
      // Node's hint after a deprecation warning says nothing of its own.
      if (line.trim() === "" || line.startsWith("(Use `node --trace-")) continue
      let key: string
      try {
        const entry = JSON.parse(line) as { readonly logLevel?: unknown; readonly message?: unknown }
        const level = String(entry.logLevel)
        if (!["WARN", "ERROR", "FATAL"].includes(level)) continue
        const message = Array.isArray(entry.message) ? entry.message.map(String).join(" ") : String(entry.message)
        key = `${level} ${message.split("\n")[0]!.slice(0, 160)}`
      } catch {
        key = line.slice(0, 160)
      }
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])
}
