/**
 * The worker replicas of a trial: each a daemon child process (`apps/worker/src/main.ts`, started by
 * test/worker/support/workerProcess.ts in its own process group) with its own control-API port, its
 * own MX proxy in front of the shared sandbox and, when several replicas share PostgreSQL, its own
 * cluster runner port. The fleet kills and restarts replicas (SIGKILL), pauses them (SIGSTOP/SIGCONT),
 * and watches for exits it did not cause: those are counted and the replica is started again, so that
 * the trial can still finish and report everything else.
 */
import type { HttpClient } from "@effect/platform"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { Effect, Fiber, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import { freePort } from "../../support/freePort.js"
import * as Harness from "../../worker/support/daemonHarness.js"
import * as WorkerProcess from "../../worker/support/workerProcess.js"
import * as MxProxy from "./MxProxy.js"

/** The control API's client. */
export type ControlApiClient = Effect.Effect.Success<ReturnType<typeof Harness.controlApi>>

/** One replica. */
export interface Replica {
  readonly index: number
  /** Its control-API port (the same on every start). */
  readonly port: number
  /** Its cluster runner port, when it runs as one of several runners. */
  readonly runnerPort: number | undefined
  /** Its MX webhook listener's port (used when the fleet runs with `WORKER_WEBHOOKS=true`). */
  readonly webhookPort: number
  /** The proxy through which it reaches MX. */
  readonly proxy: MxProxy.MxProxy
  readonly api: ControlApiClient
}

/** Where the replicas keep their state. */
export type Storage =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Pg"; readonly url: string }

/** Options of a fleet. */
export interface Options {
  readonly replicas: number
  readonly storage: Storage
  /** Run as cluster runners (needs PostgreSQL); otherwise each process is a single runner. */
  readonly runners: boolean
  readonly timeScale: number
  readonly users: ReadonlyArray<string>
  readonly token: string
  /** More environment for every replica (e.g. WORKER_MFA_TIMEOUT, WORKER_NOTIFY_URL). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/** The replicas and what was done to them. */
export interface Fleet {
  readonly replicas: ReadonlyArray<Replica>
  /** The replicas' MX requests in flight per member, and which overlapped. */
  readonly inFlight: MxProxy.InFlight
  /** Starts a replica and waits until its control API answers. */
  readonly start: (
    index: number
  ) => Effect.Effect<void, WorkerProcess.WorkerProcessError | Harness.Timeout, Scope.Scope>
  /**
   * Starts a replica that must refuse to run (e.g. a second process on one SQLite file): waits until it
   * exits and returns its output; fails if its control API answers instead.
   */
  readonly startRefused: (
    index: number
  ) => Effect.Effect<string, WorkerProcess.WorkerProcessError | Harness.Timeout, Scope.Scope>
  /** SIGKILLs a replica's process group (counted as a kill). */
  readonly kill: (index: number) => Effect.Effect<void>
  /** SIGKILLs a replica (not counted as a kill: a supervisor's restart) and starts it again. */
  readonly restart: (
    index: number
  ) => Effect.Effect<void, WorkerProcess.WorkerProcessError | Harness.Timeout, Scope.Scope>
  /** SIGKILLs a replica for good (not counted as a kill, not restarted). */
  readonly retire: (index: number) => Effect.Effect<void>
  /** SIGSTOPs (`true`) or SIGCONTs (`false`) a replica's process group. */
  readonly pause: (index: number, paused: boolean) => Effect.Effect<void>
  readonly running: (index: number) => boolean
  /** The output of the replica's current (or last) process, as written. */
  readonly output: (index: number) => string
  /** Kills so far. */
  readonly kills: () => number
  /** Exits nobody asked for, each described with the end of the replica's output. */
  readonly unexpectedExits: () => ReadonlyArray<string>
  /** The API of a running replica (the first one running, else replica 0). */
  readonly anyApi: () => ControlApiClient
  /** The APIs of the running replicas (replica 0's when none runs). */
  readonly runningApis: () => ReadonlyArray<ControlApiClient>
  /** Every process's output so far, without the HTTP access log. */
  readonly logs: () => string
  /** Every process's output so far, as written. */
  readonly rawLogs: () => string
  /** Prints every process's output (access log left out) when `effect` fails. */
  readonly printLogsOnFailure: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Watches the processes for exits nobody asked for, restarting those replicas; forked into the scope. */
  readonly watch: Effect.Effect<void, never, Scope.Scope>
  /**
   * Stops watching. Call it before the scope closes: the processes' finalizers kill them, and a
   * watcher still running would take that for a crash and start them again into a closing scope.
   */
  readonly stopWatching: Effect.Effect<void>
}

/** Builds the fleet (nothing started yet). */
export const make = (
  options: Options
): Effect.Effect<Fleet, never, Scope.Scope | Sandbox.Sandbox | Sandbox.SandboxServer | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { url: sandboxUrl } = yield* Sandbox.SandboxServer
    const replicas: Array<Replica> = []
    const inFlight = MxProxy.inFlight()
    const envs: Array<Record<string, string | undefined>> = []
    // One secret for the fleet's runners, new for every fleet.
    const runnerSecret = randomBytes(32).toString("hex")
    for (let index = 0; index < options.replicas; index++) {
      const port = yield* freePort
      const runnerPort = options.runners ? yield* freePort : undefined
      const webhookPort = yield* freePort
      const proxy = yield* MxProxy.make(sandboxUrl, inFlight, `replica ${index}`)
      const api = yield* Harness.controlApi(port, options.token)
      replicas.push({ index, port, runnerPort, webhookPort, proxy, api })
      const base = yield* Harness.workerEnv({
        timeScale: options.timeScale,
        users: options.users,
        sqliteFile: options.storage._tag === "Sqlite" ? options.storage.filename : "unused.db",
        port,
        token: options.token
      })
      envs.push({
        ...base,
        MX_BASE_URL: proxy.url,
        WORKER_WEBHOOK_PORT: String(webhookPort),
        ...(options.storage._tag === "Pg" ? { DATABASE_URL: options.storage.url, SQLITE_FILE: undefined } : {}),
        ...(runnerPort !== undefined
          ? {
            WORKER_RUNNER_PORT: String(runnerPort),
            WORKER_RUNNER_HOST: "127.0.0.1",
            WORKER_RUNNER_SECRET: runnerSecret
          }
          : { WORKER_RUNNER_PORT: undefined }),
        // The suite polls the control API often; the per-client limit is for real clients.
        WORKER_API_RATE_LIMIT: "1000000",
        ...options.env
      })
    }
    const current: Array<WorkerProcess.WorkerProcess | undefined> = replicas.map(() => undefined)
    const all: Array<{ readonly index: number; readonly process: WorkerProcess.WorkerProcess }> = []
    const killedByUs = new Set<WorkerProcess.WorkerProcess>()
    const unexpected: Array<string> = []
    let kills = 0

    // SIGKILL and wait for the exit (bounded: a kill never hangs the trial).
    const killed = (worker: WorkerProcess.WorkerProcess) =>
      worker.kill.pipe(Effect.timeout("10 seconds"), Effect.ignore)

    const start = (index: number) =>
      Effect.gen(function*() {
        const worker = yield* WorkerProcess.start(envs[index]!)
        current[index] = worker
        all.push({ index, process: worker })
        yield* Harness.eventually(
          `replica ${index}'s control API answers`,
          replicas[index]!.api.health.health().pipe(
            Effect.as(true),
            Effect.catchAll(() =>
              worker.exited()
                ? Effect.dieMessage(`replica ${index} exited during start-up:\n${tail(worker.output())}`)
                : Effect.succeed(undefined)
            )
          ),
          "60 seconds"
        )
      })

    const startRefused = (index: number) =>
      Effect.gen(function*() {
        const worker = yield* WorkerProcess.start(envs[index]!)
        all.push({ index, process: worker })
        killedByUs.add(worker)
        return yield* Harness.eventually(
          `replica ${index} exits`,
          replicas[index]!.api.health.health().pipe(
            Effect.matchEffect({
              onSuccess: () => Effect.dieMessage(`replica ${index} started although it should have refused`),
              onFailure: () => Effect.succeed(worker.exited() ? worker.output() : undefined)
            })
          ),
          "60 seconds"
        )
      })

    const kill = (index: number) =>
      Effect.suspend(() => {
        const worker = current[index]
        if (worker === undefined || worker.exited()) return Effect.void
        killedByUs.add(worker)
        kills++
        return killed(worker)
      })

    const restart = (index: number) =>
      Effect.gen(function*() {
        const worker = current[index]
        if (worker !== undefined && !worker.exited()) {
          killedByUs.add(worker)
          yield* killed(worker)
        }
        yield* start(index)
      })

    const retire = (index: number) =>
      Effect.suspend(() => {
        const worker = current[index]
        if (worker === undefined || worker.exited()) return Effect.void
        killedByUs.add(worker)
        return killed(worker)
      })

    const pause = (index: number, paused: boolean) =>
      Effect.sync(() => {
        const worker = current[index]
        if (worker === undefined || worker.exited()) return
        try {
          process.kill(-worker.pid, paused ? "SIGSTOP" : "SIGCONT")
        } catch {
          // The group is gone.
        }
      })

    const running = (index: number) => current[index] !== undefined && !current[index]!.exited()

    let watcher: Fiber.RuntimeFiber<void> | undefined
    let watching = true
    const watch = Effect.gen(function*() {
      const fiber = yield* Effect.forkScoped(Effect.gen(function*() {
        while (watching) {
          yield* Effect.sleep("200 millis")
          for (let index = 0; index < replicas.length && watching; index++) {
            const worker = current[index]
            if (worker === undefined || !worker.exited() || killedByUs.has(worker)) continue
            unexpected.push(`replica ${index} (pid ${worker.pid}) exited on its own:\n${tail(worker.output())}`)
            killedByUs.add(worker)
            yield* start(index).pipe(Effect.catchAllCause(() => Effect.void))
          }
        }
      }))
      watcher = fiber
      yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
    })
    const stopWatching = Effect.suspend(() => {
      watching = false
      return watcher === undefined
        ? Effect.void
        : Fiber.interrupt(watcher).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    })

    return {
      replicas,
      inFlight,
      start,
      startRefused,
      kill,
      restart,
      retire,
      pause,
      running,
      output: (index) => current[index]?.output() ?? "",
      kills: () => kills,
      unexpectedExits: () => [...unexpected],
      anyApi: () => {
        const index = replicas.findIndex((r) => running(r.index))
        return replicas[index === -1 ? 0 : index]!.api
      },
      runningApis: () => {
        const apis = replicas.filter((r) => running(r.index)).map((r) => r.api)
        return apis.length > 0 ? apis : [replicas[0]!.api]
      },
      logs: () =>
        all.map(({ index, process }) =>
          `--- replica ${index} (pid ${process.pid}) ---\n${withoutAccessLog(process.output())}`
        ).join("\n"),
      printLogsOnFailure: (effect) =>
        Effect.tapErrorCause(effect, () =>
          Effect.sync(() =>
            console.error(
              all.map(({ index, process }) =>
                `--- replica ${index} (pid ${process.pid}) ---\n${withoutAccessLog(process.output())}`
              ).join("\n")
            )
          )),
      rawLogs: () =>
        all.map(({ index, process }) => `--- replica ${index} (pid ${process.pid}) ---\n${process.output()}`).join(
          "\n"
        ),
      watch,
      stopWatching
    } satisfies Fleet
  })

/** A worker's output without the HTTP access log (the suite polls the control API many times a second). */
export const withoutAccessLog = (output: string): string => {
  const kept: Array<string> = []
  let skipping = false
  for (const line of output.split("\n")) {
    if (line.includes("Sent HTTP response")) {
      skipping = true
      continue
    }
    if (skipping && line.startsWith("  http.")) continue
    skipping = false
    kept.push(line)
  }
  return kept.join("\n")
}

/** The last lines of a process's output (access log left out). */
export const tail = (output: string, lines = 40): string =>
  withoutAccessLog(output).split("\n").slice(-lines).join("\n")
