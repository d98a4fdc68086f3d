/**
 * Helpers of the control API's security tests: raw requests to the worker's server, a logger that
 * keeps every line the worker logs, and a store whose database can be made to fail.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import {
  AggregationRuns,
  Erasure,
  Outbox,
  PendingChallenges,
  Store,
  StoreError,
  TrackedMembers
} from "@mx-aggregation/store"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"

/** The worker's control API base URL. */
export const baseUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
)

/** A response as a test reads it. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

/** Sends a request built on the base URL and reads the whole answer. */
export const send = (build: (base: string) => HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.execute(build(yield* baseUrl))
    return { status: response.status, headers: response.headers, text: yield* response.text } satisfies Answer
  })

/** A JSON (or not) body posted with a bearer token (none when `token` is undefined). */
export const post = (path: string, body: string, token?: string) =>
  send((base) =>
    HttpClientRequest.post(`${base}${path}`).pipe(
      HttpClientRequest.bodyText(body, "application/json"),
      token === undefined ? (r) => r : HttpClientRequest.bearerToken(token)
    )
  )

/** Every line the worker logged (logfmt, annotations and causes included). */
export class CapturedLogs extends Context.Tag("test/CapturedLogs")<CapturedLogs, Array<string>>() {
  /** Captures the logs of everything built on top of it, at every level. */
  static readonly layer = Layer.unwrapEffect(Effect.sync(() => {
    const lines: Array<string> = []
    const capture = Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))
    return Layer.mergeAll(Layer.succeed(CapturedLogs, lines), Logger.add(capture), Logger.minimumLogLevel(LogLevel.All))
  }))
}

/** Whether the database is down, for `failingStore`. */
export interface Outage {
  on: boolean
}

const wrap = <S extends object>(name: string, service: S, outage: Outage): S =>
  new Proxy(service, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      const fail = () =>
        Effect.fail(
          new StoreError.StoreError({
            reason: "QueryFailed",
            operation: `${name}.${String(key)}`,
            message: `${name}.${String(key)}: connect ECONNREFUSED 127.0.0.1:5432`
          })
        )
      if (typeof value === "function") {
        return (...args: Array<unknown>) => (outage.on ? fail() : value.apply(target, args))
      }
      if (Effect.isEffect(value)) return Effect.suspend(() => (outage.on ? fail() : value))
      return value
    }
  })

const failing = <I, S extends object>(tag: Context.Tag<I, S>, name: string, outage: Outage) =>
  Layer.effect(tag, Effect.map(tag, (service) => wrap(name, service, outage)))

/** The store's services, each failing with `StoreError` (as on a lost connection) while `outage.on`. */
export const failingStore = (outage: Outage) =>
  Layer.mergeAll(
    failing(TrackedMembers.TrackedMembers, "TrackedMembers", outage),
    failing(AggregationRuns.AggregationRuns, "AggregationRuns", outage),
    failing(PendingChallenges.PendingChallenges, "PendingChallenges", outage),
    failing(Outbox.Outbox, "Outbox", outage),
    failing(Erasure.Erasure, "Erasure", outage)
  ).pipe(Layer.provideMerge(Store.layer))

/** The RFC 9457 members every problem has. */
export const assertProblem = (
  assert: {
    readonly strictEqual: (a: unknown, b: unknown, m?: string) => void
    readonly isString: (a: unknown, m?: string) => void
  },
  answer: Answer,
  status: number,
  label: string
) => {
  assert.strictEqual(answer.status, status, `${label}: ${answer.text}`)
  assert.strictEqual(answer.headers["content-type"], "application/problem+json", label)
  const problem = JSON.parse(answer.text) as Record<string, unknown>
  assert.strictEqual(problem["status"], status, label)
  assert.isString(problem["type"], label)
  assert.strictEqual(String(problem["type"]).startsWith("tag:mx-aggregation,2026:problem:"), true, label)
  assert.isString(problem["title"], label)
  assert.isString(problem["detail"], label)
  return problem
}
