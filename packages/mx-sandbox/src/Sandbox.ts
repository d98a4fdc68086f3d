/**
 * The MX sandbox as a service: the simulated MX Platform API (an HttpApp to serve, or an in-process
 * HttpClient), plus programmatic access for tests, demos and benchmarks: seed users and members,
 * read a member's state, read and reset the counters, switch faults, background aggregation and
 * webhooks at runtime.
 *
 * All of its time is the Effect `Clock` times `timeScale`, so tests drive it with `TestClock`.
 *
 * @since 0.1.0
 */
import {
  HttpClient,
  HttpClientResponse,
  HttpServer,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import type { HttpApp } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  Queue,
  type Redacted,
  type Scope
} from "effect"
import { createServer } from "node:http"
import * as Institutions from "./Institutions.js"
import { makeApp } from "./internal/api.js"
import { Counters } from "./internal/counters.js"
import { Engine } from "./internal/engine.js"
import type { JobType, Origin, Phase } from "./internal/model.js"
import * as Render from "./internal/render.js"
import * as MxBank from "./MxBank.js"
import * as MxClock from "./MxClock.js"
import * as Options from "./Options.js"
import type * as SandboxError from "./SandboxError.js"
import type { Stats } from "./Stats.js"
import * as Webhooks from "./Webhooks.js"

/**
 * A user as MX returns it (`UserResponse`).
 *
 * @since 0.1.0
 * @category models
 */
export type UserJson = ReturnType<typeof Render.user>

/**
 * A member as MX returns it (`MemberResponse`).
 *
 * @since 0.1.0
 * @category models
 */
export type MemberJson = ReturnType<typeof Render.member>

/**
 * A member's status as MX returns it (`MemberStatusResponse`).
 *
 * @since 0.1.0
 * @category models
 */
export type MemberStatusJson = ReturnType<typeof Render.status>

/**
 * Everything the sandbox knows about a member, at the current MX time.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemberState {
  readonly member: MemberJson
  readonly status: MemberStatusJson
  /** The running job, if any, and when its next transition happens (MX time). */
  readonly job: {
    readonly guid: string
    readonly type: JobType
    readonly origin: Origin | "job"
    readonly phase: Phase
    readonly startedAt: Date
    readonly nextTransitionAt: Date
    readonly mfaRound: number
  } | null
  /** DENIED outcomes in a row (the third is PREVENTED). */
  readonly deniedStreak: number
  readonly accounts: number
  readonly transactions: number
  /** Successful aggregations so far. */
  readonly successfulAggregations: number
  /** When the next background aggregation is due (MX time). */
  readonly nextBackgroundAt: Date
}

/**
 * A member to create programmatically. Defaults: `mxbank`, `mxuser` / `password` (CONNECTED).
 *
 * @since 0.1.0
 * @category models
 */
export interface MemberInput {
  readonly institutionCode?: string | undefined
  readonly username?: string | undefined
  readonly password?: string | undefined
  readonly skipAggregation?: boolean | undefined
  readonly id?: string | undefined
  readonly metadata?: string | undefined
  readonly backgroundAggregationDisabled?: boolean | undefined
}

/**
 * The sandbox's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The MX API as an HttpApp, to serve with `HttpServer.serve` (what `layerServer` does). */
  readonly httpApp: HttpApp.Default<never, HttpServerRequest.HttpServerRequest>
  /**
   * An HttpClient that calls the sandbox in-process, without a socket: any URL's path goes to the
   * sandbox. Runs on the caller's Clock, so `it.effect` tests keep TestClock.
   */
  readonly client: HttpClient.HttpClient
  /** The Basic-auth credentials the sandbox accepts. */
  readonly credentials: { readonly clientId: string; readonly apiKey: Redacted.Redacted<string> }
  /** MX time now. */
  readonly now: Effect.Effect<Date>
  readonly createUser: (input?: {
    readonly id?: string | undefined
    readonly email?: string | undefined
    readonly metadata?: string | undefined
  }) => Effect.Effect<UserJson, SandboxError.SandboxError>
  /** Creates a member as `createMember` would (starting an aggregation unless skipped). */
  readonly createMember: (
    userGuid: string,
    input?: MemberInput
  ) => Effect.Effect<MemberJson, SandboxError.SandboxError>
  /**
   * Demo data: `users` users with `membersPerUser` MX Bank members each, their passwords taken in
   * turn from `passwords` (default: all CONNECTED, distinct so no member is a duplicate).
   */
  readonly seedDemo: (input: {
    readonly users: number
    readonly membersPerUser?: number | undefined
    readonly passwords?: ReadonlyArray<string> | undefined
    readonly skipAggregation?: boolean | undefined
  }) => Effect.Effect<ReadonlyArray<{ readonly userGuid: string; readonly memberGuids: ReadonlyArray<string> }>>
  /** A member's state now, if it exists. */
  readonly member: (memberGuid: string) => Effect.Effect<Option.Option<MemberState>>
  /** The guids of every member, in creation order per user. */
  readonly memberGuids: Effect.Effect<ReadonlyArray<string>>
  /** Completes an OAuth member's window (`success`, the default, aggregates; `denied` -> DENIED). */
  readonly completeOAuth: (
    memberGuid: string,
    outcome?: "success" | "denied"
  ) => Effect.Effect<MemberJson, SandboxError.SandboxError>
  readonly stats: Effect.Effect<Stats>
  readonly resetStats: Effect.Effect<void>
  /** Replaces the faults in force. */
  readonly setFaults: (faults: Options.Faults) => Effect.Effect<void>
  readonly setBackgroundAggregation: (enabled: boolean) => Effect.Effect<void>
  /** Starts (a URL) or stops (undefined) webhook delivery. Needs an HttpClient in the sandbox's environment. */
  readonly setWebhookUrl: (url: string | undefined) => Effect.Effect<void>
  /** The URL used in `oauth_window_uri`; `layerServer` sets it to the server's. */
  readonly setPublicUrl: (url: string) => Effect.Effect<void>
}

/**
 * The sandbox service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Sandbox extends Context.Tag("@mx-aggregation/mx-sandbox/Sandbox")<Sandbox, Service>() {}

/**
 * The address of a served sandbox: `url` is `http://127.0.0.1:<port>`.
 *
 * @since 0.1.0
 * @category tags
 */
export class SandboxServer extends Context.Tag("@mx-aggregation/mx-sandbox/SandboxServer")<SandboxServer, {
  readonly url: string
  readonly port: number
}>() {}

/**
 * An HttpClient that runs requests through an HttpApp in the calling fiber.
 *
 * @since 0.1.0
 * @category constructors
 */
export const inProcessClient = (
  app: HttpApp.Default<never, HttpServerRequest.HttpServerRequest>
): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const raw = request.body._tag === "Uint8Array" || request.body._tag === "Raw" ? request.body.body : undefined
      const body = raw instanceof Uint8Array || typeof raw === "string" ? raw : undefined
      const web = new Request(url.toString(), {
        method: request.method,
        headers: new Headers(request.headers as Record<string, string>),
        ...(body === undefined || request.method === "GET" || request.method === "HEAD" ? {} : { body })
      })
      const response = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(web)),
        Effect.scoped
      )
      return HttpClientResponse.fromWeb(request, HttpServerResponse.toWeb(response))
    })
  )

/**
 * Builds a sandbox in a scope: its timer fiber (transitions, background aggregations) and its
 * webhook fiber live as long as the scope. Webhooks use the HttpClient of the environment, if any.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Options.Options = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const options = Options.resolve(input)
    const clockStart = yield* Clock.currentTimeMillis
    const startAt = options.startAt ?? clockStart
    const timeline: MxClock.Timeline = { scale: options.timeScale, anchor: startAt, realStart: clockStart }
    const mxNow = Effect.map(Clock.currentTimeMillis, (ms) => MxClock.timeAt(timeline, ms))
    const httpClient = yield* Effect.serviceOption(HttpClient.HttpClient)
    const webhookUrl = { current: options.webhooks.url }
    if (webhookUrl.current !== undefined && Option.isNone(httpClient)) {
      return yield* Effect.dieMessage("mx-sandbox: webhooks.url is set but no HttpClient is provided to the sandbox")
    }
    const counters = new Counters()
    const webhooks = yield* Queue.unbounded<Webhooks.Payload>()
    let wake: Deferred.Deferred<void> | undefined
    let target = Infinity
    const engine = new Engine(options, counters, {
      webhook: (payload) => {
        if (webhookUrl.current !== undefined) Queue.unsafeOffer(webhooks, payload)
      },
      scheduled: (at) => {
        if (at < target && wake !== undefined) Deferred.unsafeDone(wake, Effect.void)
      }
    })

    // One timer fiber for every member: sleep until the earliest scheduled transition (or until a
    // request schedules an earlier one), then apply what is due.
    yield* Effect.gen(function*() {
      for (;;) {
        const signal = yield* Deferred.make<void>()
        wake = signal
        const now = yield* mxNow
        // A defect in one member's transitions must not stop the timer for every other member.
        yield* Effect.try(() => engine.runDue(now)).pipe(
          Effect.catchAll((error) => Effect.logError("mx-sandbox: a scheduled transition failed", error))
        )
        const next = engine.nextDue()
        target = next ?? Infinity
        if (next === undefined) {
          yield* Deferred.await(signal)
        } else {
          const realMs = Math.max(1, Math.ceil((next - now) / options.timeScale))
          yield* Effect.raceFirst(Effect.sleep(Duration.millis(realMs)), Deferred.await(signal))
        }
      }
    }).pipe(Effect.forkScoped)

    if (Option.isSome(httpClient)) {
      const client = httpClient.value
      yield* Queue.take(webhooks).pipe(
        Effect.flatMap((payload) => {
          const url = webhookUrl.current
          if (url === undefined) return Effect.void
          return Webhooks.deliver({
            client,
            url,
            payload,
            retries: options.webhooks.retries,
            retryDelayMs: options.webhooks.retryDelayMs,
            timeScale: options.timeScale,
            onFailedAttempt: () => counters.webhookFailedAttempts++
          }).pipe(
            Effect.matchCauseEffect({
              onFailure: () => Effect.sync(() => counters.webhooksDropped++),
              onSuccess: () => Effect.sync(() => counters.webhooksDelivered++)
            })
          )
        }),
        Effect.forever,
        Effect.forkScoped
      )
    }

    const faults = { current: options.faults }
    const setBackground = (enabled: boolean) => Effect.map(mxNow, (now) => engine.setBackground(now, enabled))
    const httpApp = makeApp({
      engine,
      counters,
      options,
      mxNow,
      faults,
      setFaults: (next) => {
        faults.current = next
      },
      setBackground
    })

    const userIdOf = (userGuid: string) => engine.users.get(userGuid)?.id ?? null

    const createMember = (userGuid: string, member: MemberInput = {}) =>
      Effect.flatMap(mxNow, (now) => {
        const institution = Institutions.find(member.institutionCode ?? Institutions.mxbank.code)
        const credentials = institution?.credentials.map((field) => ({
          guid: field.guid,
          value: field.field_name === "LOGIN" ? member.username ?? MxBank.username : member.password ?? "password"
        })) ?? []
        return Either.map(
          engine.createMember(now, userGuid, {
            institution_code: member.institutionCode ?? Institutions.mxbank.code,
            credentials,
            is_oauth: institution?.oauth === true,
            skip_aggregation: member.skipAggregation,
            id: member.id,
            metadata: member.metadata,
            background_aggregation_is_disabled: member.backgroundAggregationDisabled
          }, null),
          (created) => Render.member(created.member, userIdOf(userGuid))
        )
      })

    const service: Service = {
      httpApp,
      client: inProcessClient(httpApp),
      credentials: { clientId: options.clientId, apiKey: options.apiKey },
      now: Effect.map(mxNow, (ms) => new Date(ms)),
      createUser: (user = {}) => Either.map(engine.createUser(user), Render.user),
      createMember,
      seedDemo: ({ membersPerUser = 1, passwords, skipAggregation, users }) =>
        Effect.forEach(Array.from({ length: users }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const user = yield* engine.createUser({ id: `demo-user-${i + 1}` })
            const memberGuids: Array<string> = []
            for (let j = 0; j < membersPerUser; j++) {
              const password = passwords !== undefined && passwords.length > 0
                ? passwords[(i * membersPerUser + j) % passwords.length]!
                : `password-${j + 1}`
              const member = yield* createMember(user.guid, { password, skipAggregation })
              memberGuids.push(member.guid)
            }
            return { userGuid: user.guid, memberGuids }
          }).pipe(Effect.orDie)),
      member: (memberGuid) =>
        Effect.map(mxNow, (now) => {
          const rec = engine.memberByGuid(now, memberGuid)
          if (rec === undefined) return Option.none()
          const job = rec.job
          return Option.some<MemberState>({
            member: Render.member(rec, userIdOf(rec.userGuid)),
            status: Render.status(rec),
            job: job === null ? null : {
              guid: job.guid,
              type: job.type,
              origin: job.origin,
              phase: job.phase,
              startedAt: new Date(job.startedAt),
              nextTransitionAt: new Date(job.nextAt),
              mfaRound: job.round
            },
            deniedStreak: rec.deniedStreak,
            accounts: rec.accounts.length,
            transactions: rec.transactions.length,
            successfulAggregations: rec.successCount,
            nextBackgroundAt: new Date(rec.nextBackgroundAt)
          })
        }),
      memberGuids: Effect.sync(() => [...engine.users.values()].flatMap((user) => [...user.members])),
      completeOAuth: (memberGuid, outcome = "success") =>
        Effect.flatMap(mxNow, (now) =>
          Either.map(
            engine.completeOAuth(now, memberGuid, outcome),
            (member) => Render.member(member, userIdOf(member.userGuid))
          )),
      stats: Effect.sync(() => counters.snapshot()),
      resetStats: Effect.sync(() => counters.reset()),
      setFaults: (next) =>
        Effect.sync(() => {
          faults.current = next
        }),
      setBackgroundAggregation: setBackground,
      setWebhookUrl: (url) =>
        url !== undefined && Option.isNone(httpClient)
          ? Effect.dieMessage("mx-sandbox: webhooks need an HttpClient provided to the sandbox")
          : Effect.sync(() => {
            webhookUrl.current = url
          }),
      setPublicUrl: (url) =>
        Effect.sync(() => {
          engine.publicUrl = url
        })
    }
    return service
  })

/**
 * The sandbox in memory, without a socket: use `Sandbox.client` (or serve `httpApp` yourself).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options.Options = {}): Layer.Layer<Sandbox> => Layer.scoped(Sandbox, make(options))

/**
 * Options of a served sandbox: the sandbox's, plus where to listen (default 127.0.0.1, port 0 = a
 * free port).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends Options.Options {
  readonly port?: number | undefined
  readonly host?: string | undefined
}

/**
 * The sandbox served over HTTP with NodeHttpServer. `SandboxServer` gives its URL back.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (
  options: ServerOptions = {}
): Layer.Layer<Sandbox | SandboxServer, HttpServerError.ServeError> => {
  const host = options.host ?? "127.0.0.1"
  const serve = Layer.scoped(
    SandboxServer,
    Effect.gen(function*() {
      const sandbox = yield* Sandbox
      yield* HttpServer.serveEffect(sandbox.httpApp)
      const { address } = yield* HttpServer.HttpServer
      const port = address._tag === "TcpAddress" ? address.port : 0
      const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host
      const url = `http://${shownHost}:${port}`
      yield* sandbox.setPublicUrl(url)
      return { url, port }
    })
  )
  return serve.pipe(
    Layer.provideMerge(layer(options)),
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port ?? 0, host }))
  )
}
