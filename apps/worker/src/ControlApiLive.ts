/**
 * The control API's handlers and HTTP server.
 *
 * @since 0.1.0
 */
import {
  HttpApiBuilder,
  HttpApiSwagger,
  type HttpApp,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { MxClient } from "@mx-aggregation/mx-api"
import { AggregationRuns, Outbox, PendingChallenges, TrackedMembers } from "@mx-aggregation/store"
import { Cause, Chunk, type Duration, Effect, Layer, Option, Redacted, Stream } from "effect"
import { timingSafeEqual } from "node:crypto"
import { Aggregations, type Started } from "./Aggregations.js"
import {
  Authorization,
  Conflict,
  ControlApi,
  CredentialsUpdated,
  EventView,
  Invalid,
  MemberDetail,
  MemberView,
  NotFound,
  NotReady,
  PendingChallengeView,
  RunView,
  Triggered,
  Unauthorized,
  Upstream
} from "./ControlApi.js"
import { EngineConfig } from "./EngineConfig.js"
import * as MxTime from "./MxTime.js"
import * as Tls from "./Tls.js"

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

/**
 * The API view of a tracked member.
 *
 * @since 0.1.0
 * @category views
 */
export const memberView = (m: TrackedMembers.TrackedMember): MemberView =>
  new MemberView({
    memberGuid: m.memberGuid,
    userGuid: m.userGuid,
    institutionCode: m.institutionCode,
    tracked: m.tracked,
    connectionStatus: m.status,
    statusClass: m.statusClass,
    isBeingAggregated: m.isBeingAggregated,
    nextAction: m.nextAction,
    userAction: m.userAction,
    needsUser: m.needsUser ? m.needsUserReason ?? "user" : null,
    activeRunId: m.activeRunId,
    successfullyAggregatedAt: iso(m.successfullyAggregatedAt),
    observedAt: iso(m.observedAt),
    nextDueAt: iso(m.nextDueAt)
  })

const pendingView = (p: PendingChallenges.PendingChallenge) =>
  new PendingChallengeView({
    memberGuid: p.memberGuid,
    runId: p.runId,
    createdAt: new Date(p.createdAt).toISOString(),
    expiresAt: iso(p.expiresAt),
    challenges: p.challenges
  })

const triggered = (memberGuid: string, started: Started) =>
  new Triggered({ memberGuid, started: started._tag === "Started", runId: started.runId })

/** Store failures are the server's problem: a 500 with no detail, the cause logged. */
const orDie = Effect.orDie

/**
 * Compares the bearer token in constant time (no early exit on the first differing byte).
 *
 * @since 0.1.0
 * @category security
 */
export const tokenMatches = (expected: Redacted.Redacted<string>, given: Redacted.Redacted<string>): boolean => {
  const a = Buffer.from(Redacted.value(expected))
  const b = Buffer.from(Redacted.value(given))
  // Compare equal-length buffers always, so that the time does not reveal the token's length either.
  const padded = Buffer.alloc(a.length)
  b.copy(padded, 0, 0, Math.min(a.length, b.length))
  return timingSafeEqual(a, padded) && a.length === b.length
}

/**
 * Bearer-token authentication against the configured token.
 *
 * @since 0.1.0
 * @category layers
 */
export const AuthorizationLive = (token: Redacted.Redacted<string>) =>
  Layer.succeed(
    Authorization,
    Authorization.of({
      bearer: (given) =>
        tokenMatches(token, given)
          ? Effect.void
          : Effect.fail(new Unauthorized({ message: "Invalid or missing bearer token" }))
    })
  )

const HealthLive = HttpApiBuilder.group(ControlApi, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        sql`SELECT 1`.pipe(
          Effect.as({ status: "ready" as const }),
          Effect.catchAll(() => Effect.fail(new NotReady({ message: "The database is not reachable" })))
        ))
  }))

const EventsLive = HttpApiBuilder.group(ControlApi, "events", (handlers) =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    return handlers.handle("list", ({ urlParams }) =>
      outbox.listRecent({
        memberGuid: urlParams.memberGuid,
        afterId: urlParams.afterId === undefined ? undefined : Outbox.EventId.make(urlParams.afterId),
        limit: urlParams.limit ?? 100
      }).pipe(
        Effect.map((events) =>
          events.map((e) =>
            new EventView({
              id: e.id,
              type: e.type,
              memberGuid: e.memberGuid,
              userGuid: e.userGuid,
              createdAt: new Date(e.createdAt).toISOString(),
              deliveredAt: iso(e.deliveredAt),
              payload: e.payload
            })
          )
        ),
        orDie
      ))
  }))

const MembersLive = HttpApiBuilder.group(ControlApi, "members", (handlers) =>
  Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const runs = yield* AggregationRuns.AggregationRuns
    const pending = yield* PendingChallenges.PendingChallenges
    const aggregations = yield* Aggregations
    const mxClient = yield* MxClient.MxClient
    const config = yield* EngineConfig
    const mx = MxTime.within(config.mxClock)
    const notFound = (memberGuid: string) => new NotFound({ message: `Member ${memberGuid} is not tracked` })
    return handlers
      .handle("list", ({ urlParams }) =>
        tracked.list({ statusClass: urlParams.statusClass, userGuid: urlParams.userGuid }).pipe(
          Effect.map((members) =>
            members.map(memberView)
          ),
          orDie
        ))
      .handle("get", ({ path }) =>
        Effect.gen(function*() {
          const member = yield* orDie(tracked.get(path.memberGuid))
          if (Option.isNone(member)) return yield* notFound(path.memberGuid)
          const recent = yield* orDie(runs.listByMember(path.memberGuid, { limit: 20 }))
          return new MemberDetail({
            member: memberView(member.value),
            runs: recent.map((r) =>
              new RunView({
                runId: r.runId,
                reason: r.reason,
                startedAt: new Date(r.startedAt).toISOString(),
                endedAt: iso(r.endedAt),
                outcome: r.outcome,
                failureReason: r.failureReason,
                mxCalls: r.mxCalls
              })
            )
          })
        }))
      .handle("challenges", ({ path }) =>
        pending.current(path.memberGuid).pipe(
          orDie,
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new NotFound({ message: `Member ${path.memberGuid} has no pending challenge` })),
            onSome: (p) => Effect.succeed(pendingView(p))
          }))
        ))
      .handle("updateCredentials", ({ path, payload }) =>
        aggregations.updateCredentials(path.memberGuid, {
          values: payload.credentials,
          purpose: payload.purpose,
          aggregateLater: payload.aggregateLater
        }).pipe(
          Effect.map(({ plan, run }) =>
            new CredentialsUpdated({
              skipAggregation: plan.skipAggregation,
              mxStartsAggregation: plan.mxStartsAggregation,
              runId: run?.runId ?? null
            })
          ),
          Effect.catchTags({
            MemberNotTracked: () => Effect.fail(notFound(path.memberGuid)),
            MemberNotAwaitingCredentials: (e) => Effect.fail(new Conflict({ message: e.message })),
            CredentialUpdateRejected: (e) =>
              e.reason === "DuplicateMember"
                ? Effect.fail(new Conflict({ message: e.message }))
                : Effect.fail(new Invalid({ message: e.message })),
            MxApiError: (e) => Effect.fail(new Upstream({ message: e.message, reason: e.reason }))
          }),
          orDie,
          mx
        ))
      .handle("credentialFields", ({ path }) =>
        Effect.gen(function*() {
          const member = yield* orDie(tracked.get(path.memberGuid))
          if (Option.isNone(member)) return yield* notFound(path.memberGuid)
          // The member's own credential fields (MX: never assume the institution's).
          return yield* Stream.runCollect(
            mxClient.listMemberCredentials({ userGuid: member.value.userGuid, memberGuid: path.memberGuid })
          ).pipe(
            Effect.map(Chunk.toReadonlyArray),
            Effect.catchAll((e) => Effect.fail(new Upstream({ message: e.message, reason: e.reason })))
          )
        }))
      .handle("track", ({ payload }) =>
        tracked.track({
          memberGuid: payload.memberGuid,
          userGuid: payload.userGuid,
          institutionCode: payload.institutionCode ?? null
        }).pipe(Effect.map(memberView), orDie, mx))
      .handle("untrack", ({ path }) =>
        tracked.untrack(path.memberGuid).pipe(Effect.map((untracked) => ({ untracked })), orDie))
      .handle("pendingChallenges", () =>
        pending.listPending().pipe(
          Effect.map((all) =>
            all.map(pendingView)
          ),
          orDie
        ))
      .handle("answer", ({ path, payload }) =>
        aggregations.answerChallenges(path.memberGuid, payload.answers).pipe(
          Effect.as({ resumed: true as const }),
          Effect.catchTags({
            MemberNotWaiting: (e) => Effect.fail(new Conflict({ message: e.message })),
            MemberNotChallenged: (e) => Effect.fail(new Conflict({ message: e.message })),
            InvalidMfaAnswers: (e) => Effect.fail(new Invalid({ message: e.message, problems: e.problems })),
            MxApiError: (e) =>
              e.reason === "NotAllowed"
                ? Effect.fail(new Conflict({ message: `MX refused the resume: ${e.message}` }))
                : Effect.fail(new Upstream({ message: e.message, reason: e.reason }))
          }),
          orDie,
          mx
        ))
      .handle("aggregate", ({ path }) =>
        aggregations.start(path.memberGuid, "Manual").pipe(
          Effect.map((started) => triggered(path.memberGuid, started)),
          Effect.catchTag("MemberNotTracked", () => Effect.fail(notFound(path.memberGuid))),
          orDie,
          mx
        ))
      .handle("userPresent", ({ path }) =>
        aggregations.userPresent(path.userGuid).pipe(
          Effect.map((all) => all.map((r) => triggered(r.memberGuid, r.started))),
          orDie,
          mx
        ))
      .handle("aggregateUser", ({ path }) =>
        aggregations.aggregateUser(path.userGuid).pipe(
          Effect.map((all) => all.map((r) => triggered(r.memberGuid, r.started))),
          orDie,
          mx
        ))
  }))

/**
 * The API's handlers (needs the store, `Aggregations` and `EngineConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const ApiLive = (token: Redacted.Redacted<string>) =>
  HttpApiBuilder.api(ControlApi).pipe(
    Layer.provide([HealthLive, MembersLive, EventsLive]),
    Layer.provide(AuthorizationLive(token))
  )

/**
 * Gives the framework's bare 400 (a body that is not JSON at all) a message, so that every refused
 * request says why. An API-level middleware: it must turn the error into a response before the
 * server does.
 *
 * @since 0.1.0
 * @category middleware
 */
export const explainBadRequests = HttpApiBuilder.middleware((app) =>
  Effect.catchAllCause(app, (cause) => {
    const error: unknown = Cause.squash(cause)
    return HttpServerError.isServerError(error) && error._tag === "RequestError"
      ? Effect.succeed(HttpServerResponse.unsafeJson(
        { _tag: "BadRequest", message: `The request could not be read (${error.reason}): the body must be valid JSON` },
        { status: 400 }
      ))
      : Effect.failCause(cause)
  })
)

/**
 * Limits that keep the control API available under misuse.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Largest request body accepted (413 above it). */
  readonly maxBodyBytes: number
  /** A request still unanswered after this gets 503. */
  readonly requestTimeout: Duration.DurationInput
  /** Requests per minute per client address (429 above it), failed authentications included. */
  readonly requestsPerMinute: number
}

/**
 * The default limits.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLimits: Limits = { maxBodyBytes: 64 * 1024, requestTimeout: "30 seconds", requestsPerMinute: 600 }

const jsonError = (status: number, tag: string, message: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status, headers })

/**
 * Body size, request timeout and a per-client rate limit (a token bucket per remote address, refilled
 * continuously). Guessing tokens costs requests like anything else, so brute force is throttled too.
 *
 * @since 0.1.0
 * @category middleware
 */
export const limitsMiddleware = (limits: Limits) =>
  HttpApiBuilder.middleware(Effect.sync(() => {
    const buckets = new Map<string, { tokens: number; at: number }>()
    const perMs = limits.requestsPerMinute / 60_000
    const take = (client: string, now: number): boolean => {
      const bucket = buckets.get(client) ?? { tokens: limits.requestsPerMinute, at: now }
      bucket.tokens = Math.min(limits.requestsPerMinute, bucket.tokens + (now - bucket.at) * perMs)
      bucket.at = now
      buckets.set(client, bucket)
      if (buckets.size > 10_000) buckets.clear()
      if (bucket.tokens < 1) return false
      bucket.tokens -= 1
      return true
    }
    return (app: HttpApp.Default): HttpApp.Default =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (!take(Option.getOrElse(request.remoteAddress, () => "unknown"), Date.now())) {
          return jsonError(429, "TooManyRequests", "Too many requests from this client; slow down", {
            "retry-after": String(Math.ceil(60 / limits.requestsPerMinute))
          })
        }
        const length = Number(request.headers["content-length"] ?? "0")
        if (Number.isFinite(length) && length > limits.maxBodyBytes) {
          return jsonError(413, "PayloadTooLarge", `The request body is larger than ${limits.maxBodyBytes} bytes`)
        }
        return yield* app.pipe(
          HttpIncomingMessage.withMaxBodySize(Option.some(limits.maxBodyBytes)),
          Effect.timeoutTo({
            duration: limits.requestTimeout,
            onSuccess: (response) => response,
            onTimeout: () => jsonError(503, "Timeout", "The request took too long")
          })
        )
      })
  }))

/**
 * The control API served on `host:port` (port 0: a free port; read it back from `HttpServer`), over
 * HTTPS when given TLS credentials.
 *
 * @since 0.1.0
 * @category layers
 */
export const serverLayer = (options: {
  readonly token: Redacted.Redacted<string>
  readonly port: number
  readonly host: string
  readonly limits?: Limits | undefined
  readonly tls?: Tls.Credentials | undefined
}) =>
  HttpApiBuilder.serve(HttpMiddleware.logger).pipe(
    Layer.provide(explainBadRequests),
    Layer.provide(limitsMiddleware(options.limits ?? defaultLimits)),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(ApiLive(options.token)),
    HttpServer.withLogAddress,
    Layer.provideMerge(NodeHttpServer.layer(Tls.makeServer(options.tls), { port: options.port, host: options.host }))
  )
