/**
 * A worker and a time-scaled sandbox in one process, over real HTTP on 127.0.0.1, for end-to-end
 * tests: the sandbox serves MX, the worker's engine and control API run on a fresh database.
 */
import { HttpApiClient, HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import type { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, PendingChallenges, TestDatabase } from "@mx-aggregation/store"
import {
  Aggregations,
  ControlApi,
  type ControlApiLive,
  EngineConfig,
  WebhookListener,
  Worker
} from "@mx-aggregation/worker"
import { Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"

/** The control API token of the tests. */
export const token = Redacted.make("test-token-0123456789")

/** The Basic credentials MX (the sandbox) sends its webhooks with, in the tests. */
export const webhookCredentials = {
  username: "mx-webhooks",
  password: Redacted.make("webhook-password-0123456789abcdef")
} as const

/** The worker's webhook listener (it runs one only with the harness's `webhooks` option). */
export const webhookListener = Effect.flatMap(
  Effect.serviceOption(WebhookListener.WebhookListener),
  Option.match({
    onNone: () => Effect.dieMessage("the worker runs no webhook listener"),
    onSome: Effect.succeed
  })
)

/** The webhook URL to register at MX (the sandbox): the listener's, with the Basic credentials in it. */
export const webhookUrl = Effect.map(webhookListener, (listener) => {
  const { port } = listener.address as HttpServer.TcpAddress
  const { password, username } = webhookCredentials
  return `http://${username}:${Redacted.value(password)}@127.0.0.1:${port}${WebhookListener.path}`
})

/**
 * POSTs a webhook body to the worker's webhook listener, with the harness's Basic credentials unless
 * `authorization` says otherwise (`null`: no header). Returns the response.
 */
export const postWebhook = (body: unknown, options: { readonly authorization?: string | null } = {}) =>
  Effect.gen(function*() {
    const { port } = (yield* webhookListener).address as HttpServer.TcpAddress
    const http = yield* HttpClient.HttpClient
    const { password, username } = webhookCredentials
    const authorization = options.authorization === undefined
      ? `Basic ${Buffer.from(`${username}:${Redacted.value(password)}`).toString("base64")}`
      : options.authorization
    const request = HttpClientRequest.post(`http://127.0.0.1:${port}${WebhookListener.path}`).pipe(
      typeof body === "string"
        ? HttpClientRequest.bodyText(body, "application/json")
        : HttpClientRequest.bodyUnsafeJson(body),
      authorization === null ? (r) => r : HttpClientRequest.setHeader("authorization", authorization)
    )
    const response = yield* http.execute(request)
    return { status: response.status, headers: response.headers, body: yield* response.text }
  }).pipe(Effect.scoped)

/** MX seconds per real second in the end-to-end tests. */
export const timeScale = 100

/** Options of the harness. */
export interface HarnessOptions {
  readonly kind?: TestDatabase.Kind
  readonly sandbox?: Partial<Sandbox.ServerOptions>
  readonly engine?: Partial<EngineConfig.Service>
  /** Limits of the control API. */
  readonly limits?: ControlApiLive.Limits
  /**
   * The worker runs its webhook listener (`webhookCredentials`); `true` also points the sandbox's
   * webhooks at it, `"listener"` leaves the sandbox silent (tests send webhooks themselves).
   */
  readonly webhooks?: boolean | "listener"
  /** How the worker's MX client retries (default: the client's own `retrySchedule`). */
  readonly mxRetrySchedule?: MxClient.Options["retrySchedule"]
  /** The store's services (default `Store.layer`), e.g. with a repository wrapped to hold the worker. */
  readonly store?: Worker.Options["store"]
}

/** Sandbox + database + worker (engine and control API, no scheduler: tests start runs themselves). */
export const harness = (options: HarnessOptions = {}) => {
  const sandbox = Sandbox.layerServer({
    port: 0,
    timeScale,
    seed: "e2e",
    aggregationDuration: "30 seconds",
    delayedDuration: "3 minutes",
    // MFA windows in MX time are short in real time at this scale (4 minutes: 2.4 s): long enough here
    // that a loaded machine's answers still come in time. Tests of the timeout set their own.
    mfaTimeout: "2 hours",
    ...options.sandbox
  })
  const worker = Layer.unwrapEffect(Effect.gen(function*() {
    const { url } = yield* Sandbox.SandboxServer
    const mx = yield* Sandbox.Sandbox
    const now = yield* mx.now
    return Worker.layer({
      users: [],
      api: { token, port: 0, host: "127.0.0.1", limits: options.limits },
      scheduler: false,
      store: options.store,
      webhooks: options.webhooks === undefined || options.webhooks === false
        ? undefined
        : { port: 0, host: "127.0.0.1", ...webhookCredentials }
    }).pipe(
      Layer.provide(
        MxClient.layer({
          baseUrl: url,
          clientId: mx.credentials.clientId,
          apiKey: mx.credentials.apiKey,
          requestsPerSecond: 200,
          maxConcurrency: 20,
          ...(options.mxRetrySchedule === undefined ? {} : { retrySchedule: options.mxRetrySchedule })
        })
      ),
      Layer.provide(EngineConfig.layer({
        timeScale,
        mxAnchor: now.getTime(),
        mfaTimeout: Duration.hours(1),
        ...options.engine
      })),
      Layer.provideMerge(TestDatabase.layer(options.kind ?? "sqlite"))
    )
  }))
  const webhooks = Layer.effectDiscard(Effect.gen(function*() {
    const mx = yield* Sandbox.Sandbox
    yield* mx.setWebhookUrl(yield* webhookUrl)
  }))
  return (options.webhooks === true ? Layer.provideMerge(webhooks, worker) : worker).pipe(
    Layer.provideMerge(sandbox),
    Layer.provideMerge(NodeHttpClient.layerUndici)
  )
}

/** A client of the worker's control API. */
export const controlClient = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const address = server.address as HttpServer.TcpAddress
  return yield* HttpApiClient.make(ControlApi.ControlApi, {
    baseUrl: `http://127.0.0.1:${address.port}`,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(token)))
  })
})

/**
 * Sends a request to the sandbox as the partner's own code would (its credentials, MX's media type),
 * behind the worker's back: e.g. a submission whose response the worker never got. `request` has
 * MX's path only.
 */
export const callMx = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const mx = yield* Sandbox.Sandbox
    const { url } = yield* Sandbox.SandboxServer
    const http = yield* HttpClient.HttpClient
    return yield* http.execute(request.pipe(
      HttpClientRequest.prependUrl(url),
      HttpClientRequest.basicAuth(mx.credentials.clientId, Redacted.value(mx.credentials.apiKey)),
      HttpClientRequest.setHeader("Accept", "application/vnd.mx.api.v1+json")
    ))
  })

/** Retries `check` every 20 ms until it yields a value, for at most `timeout`. */
export const eventually = <A, E, R>(
  label: string,
  check: Effect.Effect<Option.Option<A>, E, R>,
  timeout: Duration.DurationInput = "30 seconds"
) =>
  check.pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.fail("pending" as const), onSome: Effect.succeed })),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), while: (e) => e === "pending" }),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`timed out waiting for ${label}`) })
  )

/**
 * A new MX Bank member of a new user, tracked by the worker. Created with `skip_aggregation` unless
 * asked otherwise, so that the worker's own run is what aggregates it.
 */
export const newMember = (password: string, options: { readonly skipAggregation?: boolean } = {}) =>
  Effect.gen(function*() {
    const mx = yield* Sandbox.Sandbox
    const aggregations = yield* Aggregations.Aggregations
    const user = yield* mx.createUser()
    const member = yield* mx.createMember(user.guid, {
      institutionCode: "mxbank",
      username: "mxuser",
      password,
      skipAggregation: options.skipAggregation ?? true
    })
    yield* aggregations.discover(user.guid as Member.UserGuid)
    return { userGuid: user.guid as Member.UserGuid, memberGuid: member.guid as Member.MemberGuid }
  })

/** Waits until a run has ended and returns it. */
export const ended = (runId: AggregationRuns.RunId, timeout?: Duration.DurationInput) =>
  Effect.flatMap(AggregationRuns.AggregationRuns, (runs) =>
    eventually(
      `run ${runId} to end`,
      runs.get(runId).pipe(Effect.map(Option.filter((r) => r.run.endedAt !== null))),
      timeout
    ))

/** Waits until the member has a pending challenge and returns it. */
export const pendingChallenge = (memberGuid: Member.MemberGuid) =>
  Effect.flatMap(
    PendingChallenges.PendingChallenges,
    (pending) => eventually(`a pending challenge of ${memberGuid}`, pending.current(memberGuid))
  )
