/**
 * The MX sandbox served on 127.0.0.1 in the test process, the worker daemon as a child process
 * pointed at it (same SQLite file and control-API port on every start), and a typed client of the
 * worker's control API.
 */
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Member } from "@mx-aggregation/domain"
import { MxBank, type Options, Sandbox } from "@mx-aggregation/mx-sandbox"
import { ControlApi } from "@mx-aggregation/worker/ControlApi"
import { Cause, Duration, Effect, Layer, Redacted, type Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as WorkerProcess from "./workerProcess.js"

/** A condition that did not hold in time. */
export class Timeout extends Error {}

/** Repeats `check` every 50 ms until it yields a value other than `undefined`, failing after `within`. */
export const eventually = <A, E, R>(
  label: string,
  check: Effect.Effect<A | undefined, E, R>,
  within: Duration.DurationInput = "20 seconds"
): Effect.Effect<A, E | Timeout, R> =>
  Effect.gen(function*() {
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("50 millis")
    }
  }).pipe(
    Effect.timeoutFail({
      duration: within,
      onTimeout: () => new Timeout(`timed out after ${Duration.format(within)} waiting until ${label}`)
    })
  )

/** Every exchange a sandbox answered, and the number of calls of one operation for one member. */
export interface Exchanges {
  readonly all: Array<Options.Exchange>
  readonly count: (operationId: string, memberGuid: string, from?: number) => number
}

const memberOf = (url: string): string | undefined => /\/members\/([^/?]+)/.exec(url)?.[1]

/**
 * A sandbox on a free port that records its exchanges, with the Node HTTP client (for the control
 * API's client) provided alongside.
 */
export const environment = (options: Sandbox.ServerOptions) => {
  const all: Array<Options.Exchange> = []
  const exchanges: Exchanges = {
    all,
    count: (operationId, memberGuid, from = 0) =>
      all.slice(from).filter((e) => e.operationId === operationId && memberOf(e.url) === memberGuid).length
  }
  const layer = Layer.merge(
    Sandbox.layerServer({ ...options, observe: (exchange) => all.push(exchange) }),
    NodeHttpClient.layerUndici
  )
  return { exchanges, layer }
}

/** Creates a user and MX Bank members with the given passwords, skipping MX's creation aggregation. */
export const createMembers = <P extends string>(
  userId: string,
  passwords: ReadonlyArray<P>
): Effect.Effect<
  { readonly userGuid: Member.UserGuid; readonly members: ReadonlyMap<P, Member.MemberGuid> },
  never,
  Sandbox.Sandbox
> =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const user = yield* sandbox.createUser({ id: userId })
    const members = new Map<P, Member.MemberGuid>()
    for (const password of passwords) {
      const member = yield* sandbox.createMember(user.guid, {
        username: MxBank.username,
        password,
        skipAggregation: true
      })
      members.set(password, Member.MemberGuid.make(member.guid))
    }
    return { userGuid: Member.UserGuid.make(user.guid), members }
  }).pipe(Effect.orDie)

/**
 * The worker's environment against the sandbox: its MX clock runs at the sandbox's `timeScale` from
 * the same origin. The sandbox's MX time is `origin + (real - origin) * scale` (its clock started at
 * `origin`), so the origin follows from one reading of both clocks.
 */
export const workerEnv = (options: {
  readonly timeScale: number
  readonly users: ReadonlyArray<string>
  readonly sqliteFile: string
  readonly port: number
  readonly token: string
  readonly extra?: Readonly<Record<string, string>> | undefined
}) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { url } = yield* Sandbox.SandboxServer
    const mxNow = (yield* sandbox.now).getTime()
    const realNow = Date.now()
    const origin = Math.round((realNow * options.timeScale - mxNow) / (options.timeScale - 1))
    return {
      MX_BASE_URL: url,
      MX_CLIENT_ID: sandbox.credentials.clientId,
      MX_API_KEY: Redacted.value(sandbox.credentials.apiKey),
      WORKER_API_TOKEN: options.token,
      WORKER_USERS: options.users.join(","),
      WORKER_PORT: String(options.port),
      WORKER_HOST: "127.0.0.1",
      WORKER_TIME_SCALE: String(options.timeScale),
      WORKER_TIME_ORIGIN: String(origin),
      // The MX client's per-request timeout (30 s) runs on the worker's MX clock inside activities, so
      // at scale 50 it would be 0.6 s of real time: a loaded machine then fails calls MX answered.
      // Give it 30 s of real time.
      MX_REQUEST_TIMEOUT: `${30 * options.timeScale} seconds`,
      SQLITE_FILE: options.sqliteFile,
      // The test runner may export a PostgreSQL URL; this worker keeps its state in the SQLite file.
      DATABASE_URL: undefined,
      ...options.extra
    } satisfies Record<string, string | undefined>
  })

/** A temporary directory, removed with the scope. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** The control API's client, authenticated with the bearer token. */
export const controlApi = (port: number, token: string) =>
  HttpApiClient.make(ControlApi, {
    baseUrl: `http://127.0.0.1:${port}`,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  })

/**
 * Starts workers with one environment: each start waits until the control API answers. `workers`
 * lists every start, for the logs printed on failure.
 */
export const workerStarter = (
  env: Readonly<Record<string, string | undefined>>,
  api: Effect.Effect.Success<ReturnType<typeof controlApi>>
) => {
  const workers: Array<WorkerProcess.WorkerProcess> = []
  const start = Effect.gen(function*() {
    const worker = yield* WorkerProcess.start(env)
    workers.push(worker)
    yield* eventually(
      "the control API answers",
      api.health.health().pipe(
        Effect.as(true),
        Effect.catchAll(() =>
          worker.exited()
            ? Effect.dieMessage(`worker #${workers.length} exited during start-up`)
            : Effect.succeed(undefined)
        )
      ),
      "30 seconds"
    )
    return worker
  })
  /** Prints the failure and every worker's output when `effect` fails. */
  const printLogsOnFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.tapErrorCause(effect, (cause) =>
      Effect.sync(() => {
        const logs = workers.map((w, i) => `--- worker #${i + 1} (pid ${w.pid}) ---\n${w.output()}`).join("\n")
        console.error(`${Cause.pretty(cause)}\n${logs}`)
      }))
  return { start, workers, printLogsOnFailure }
}
