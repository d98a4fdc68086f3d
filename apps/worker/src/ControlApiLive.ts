/**
 * The control API's handlers and HTTP server. Every failure is answered as a problem
 * (`ProblemResponses`); store failures are 503 `Unavailable`, never a bare 500.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpApiSwagger, HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import type { AggregationPolicy, CredentialUpdate, Member, Mfa } from "@mx-aggregation/domain"
import { type MxApiError, MxClient } from "@mx-aggregation/mx-api"
import { AggregationRuns, Outbox, PendingChallenges, TrackedMembers } from "@mx-aggregation/store"
import type { StoreError } from "@mx-aggregation/store"
import { Chunk, Effect, Layer, Option, type Redacted, Stream } from "effect"
import { Aggregations, type Started } from "./Aggregations.js"
import * as ApiLimits from "./ApiLimits.js"
import { AuthorizationLive } from "./Authentication.js"
import {
  ChallengesPage,
  ControlApi,
  CredentialsUpdated,
  defaultPageSize,
  EventsPage,
  EventView,
  MemberCounts,
  MemberDetail,
  MembersPage,
  MemberView,
  PendingChallengeView,
  Purged,
  RunDetail,
  RunStatusView,
  RunView,
  StatusClassCount,
  Triggered,
  Untracked
} from "./ControlApi.js"
import type { MemberNotAwaitingCredentials } from "./CredentialSubmission.js"
import { EngineConfig } from "./EngineConfig.js"
import * as Listener from "./Listener.js"
import { MemberErasure } from "./MemberErasure.js"
import type { MemberNotWaiting } from "./MfaRound.js"
import * as MxTime from "./MxTime.js"
import * as OperatorConsole from "./OperatorConsole.js"
import { Conflict, Invalid, NotFound, NotReady, Unavailable, unavailableRetryAfter, Upstream } from "./Problem.js"
import * as ProblemResponses from "./ProblemResponses.js"
import * as RequestLog from "./RequestLog.js"
import type * as Tls from "./Tls.js"

/** The token's check and the `Authorization` middleware (see `Authentication`). @since 0.1.0 */
export { AuthorizationLive, tokenMatches } from "./Authentication.js"

/** The API's limits (see `ApiLimits`). @since 0.1.0 */
export { defaultLimits, type Limits } from "./ApiLimits.js"

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

const runView = (r: AggregationRuns.AggregationRun) =>
  new RunView({
    runId: r.runId,
    reason: r.reason,
    startedAt: new Date(r.startedAt).toISOString(),
    endedAt: iso(r.endedAt),
    outcome: r.outcome,
    failureReason: r.failureReason,
    mxCalls: r.mxCalls,
    rowsSkipped: r.rowsSkipped
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

const unavailable = "The worker's database is unavailable; nothing was done"

/**
 * A store failure as the client sees it: the database is unavailable, try again later. The cause is
 * logged (the server's business), not shown.
 */
const storeUnavailable = <A, E, R>(effect: Effect.Effect<A, E | StoreError.StoreError, R>) =>
  Effect.catchIf(
    effect,
    (e): e is StoreError.StoreError => (e as { readonly _tag?: unknown })._tag === "StoreError",
    (error) =>
      Effect.zipRight(
        Effect.logError("control API: the store failed", error),
        Effect.fail(new Unavailable({ detail: unavailable, retryAfter: unavailableRetryAfter }))
      )
  )

const HealthLive = HttpApiBuilder.group(ControlApi, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        sql`SELECT 1`.pipe(
          Effect.as({ status: "ready" as const }),
          Effect.catchAll(() =>
            Effect.fail(new NotReady({ detail: "The database is not reachable", retryAfter: unavailableRetryAfter }))
          )
        ))
  }))

const eventView = (e: Outbox.OutboxEvent) =>
  new EventView({
    id: e.id,
    type: e.type,
    memberGuid: e.memberGuid,
    userGuid: e.userGuid,
    createdAt: new Date(e.createdAt).toISOString(),
    deliveredAt: iso(e.deliveredAt),
    payload: e.payload
  })

const EventsLive = HttpApiBuilder.group(ControlApi, "events", (handlers) =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    return handlers.handle("list", ({ urlParams }) => {
      const afterId = Outbox.EventId.make(urlParams.afterId ?? 0)
      return outbox.listAfter({ afterId, limit: urlParams.limit ?? defaultPageSize, memberGuid: urlParams.memberGuid })
        .pipe(
          Effect.map((events) => new EventsPage({ events: events.map(eventView), next: events.at(-1)?.id ?? afterId })),
          storeUnavailable
        )
    })
  }))

const RunsLive = HttpApiBuilder.group(ControlApi, "runs", (handlers) =>
  Effect.gen(function*() {
    const runs = yield* AggregationRuns.AggregationRuns
    return handlers.handle("get", ({ path }) =>
      runs.get(path.runId).pipe(
        storeUnavailable,
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new NotFound({ detail: `No run ${path.runId}` })),
          onSome: ({ observations, run }) =>
            Effect.succeed(
              new RunDetail({
                memberGuid: run.memberGuid,
                run: runView(run),
                statuses: observations.map((o) =>
                  new RunStatusView({ status: o.status, observedAt: new Date(o.observedAt).toISOString() })
                )
              })
            )
        }))
      ))
  }))

/** A page of `limit` items out of `limit + 1` fetched: the cursor is the last item's, if there are more. */
const pageOf = <A>(items: ReadonlyArray<A>, limit: number, cursor: (a: A) => string) => {
  const page = items.slice(0, limit)
  return { page, next: items.length > limit ? cursor(page[page.length - 1]!) : null }
}

/** Why new credentials were not taken, as problems (an untracked member aside). */
const credentialProblems = {
  MemberNotAwaitingCredentials: (e: MemberNotAwaitingCredentials) => Effect.fail(new Conflict({ detail: e.message })),
  CredentialUpdateRejected: (e: CredentialUpdate.CredentialUpdateRejected) =>
    e.reason === "DuplicateMember"
      ? Effect.fail(new Conflict({ detail: e.message }))
      : Effect.fail(new Invalid({ detail: e.message })),
  MxApiError: (e: MxApiError.MxApiError) => Effect.fail(new Upstream({ detail: e.message, reason: e.reason }))
}

/** Why MFA answers were not taken, as problems. */
const answerProblems = {
  MemberNotWaiting: (e: MemberNotWaiting) => Effect.fail(new Conflict({ detail: e.message })),
  MemberNotChallenged: (e: Mfa.MemberNotChallenged) => Effect.fail(new Conflict({ detail: e.message })),
  InvalidMfaAnswers: (e: Mfa.InvalidMfaAnswers) =>
    Effect.fail(new Invalid({ detail: e.message, problems: e.problems })),
  EmptyResume: (e: Mfa.EmptyResume) => Effect.fail(new Invalid({ detail: e.message })),
  MxApiError: (e: MxApiError.MxApiError) =>
    e.reason === "NotAllowed"
      ? Effect.fail(new Conflict({ detail: `MX refused the resume: ${e.message}` }))
      : Effect.fail(new Upstream({ detail: e.message, reason: e.reason }))
}

const MembersLive = HttpApiBuilder.group(ControlApi, "members", (handlers) =>
  Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const runs = yield* AggregationRuns.AggregationRuns
    const pending = yield* PendingChallenges.PendingChallenges
    const erasure = yield* MemberErasure
    const aggregations = yield* Aggregations
    const mxClient = yield* MxClient.MxClient
    const config = yield* EngineConfig
    // `Aggregations` runs on MX time by itself; the member's record here is written in MX time too.
    const onMxTime = MxTime.within(config.mxClock)
    const notFound = (memberGuid: string) => new NotFound({ detail: `Member ${memberGuid} is not tracked` })
    const startRun = (memberGuid: Member.MemberGuid, trigger: AggregationPolicy.Trigger) =>
      aggregations.start(memberGuid, trigger).pipe(
        Effect.map((started) => triggered(memberGuid, started)),
        Effect.catchTag("MemberNotTracked", () => Effect.fail(notFound(memberGuid))),
        storeUnavailable
      )
    return handlers
      .handle("list", ({ urlParams }) => {
        const limit = urlParams.limit ?? defaultPageSize
        return tracked.list({
          statusClass: urlParams.statusClass,
          userGuid: urlParams.userGuid,
          afterGuid: urlParams.cursor,
          limit: limit + 1
        }).pipe(
          Effect.map((members) => {
            const { next, page } = pageOf(members, limit, (m) => m.memberGuid)
            return new MembersPage({ members: page.map(memberView), next })
          }),
          storeUnavailable
        )
      })
      .handle("counts", () =>
        tracked.countByStatusClass.pipe(
          Effect.map((counts) =>
            new MemberCounts({
              total: counts.reduce((sum, c) => sum + c.count, 0),
              byStatusClass: counts.map((c) => new StatusClassCount({ statusClass: c.statusClass, count: c.count }))
            })
          ),
          storeUnavailable
        ))
      .handle("get", ({ path }) =>
        Effect.gen(function*() {
          const member = yield* tracked.get(path.memberGuid)
          if (Option.isNone(member)) return yield* notFound(path.memberGuid)
          const recent = yield* runs.listByMember(path.memberGuid, { limit: 20 })
          return new MemberDetail({ member: memberView(member.value), runs: recent.map(runView) })
        }).pipe(storeUnavailable))
      .handle("challenges", ({ path }) =>
        pending.current(path.memberGuid).pipe(
          storeUnavailable,
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new NotFound({ detail: `Member ${path.memberGuid} has no pending challenge` })),
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
            ...credentialProblems
          }),
          storeUnavailable
        ))
      .handle("credentialFields", ({ path }) =>
        Effect.gen(function*() {
          const member = yield* storeUnavailable(tracked.get(path.memberGuid))
          if (Option.isNone(member)) return yield* notFound(path.memberGuid)
          // The member's own credential fields (MX: never assume the institution's).
          return yield* Stream.runCollect(
            mxClient.listMemberCredentials({ userGuid: member.value.userGuid, memberGuid: path.memberGuid })
          ).pipe(
            Effect.map(Chunk.toReadonlyArray),
            Effect.catchAll((e) => Effect.fail(new Upstream({ detail: e.message, reason: e.reason })))
          )
        }))
      .handle("track", ({ payload }) =>
        tracked.track({
          memberGuid: payload.memberGuid,
          userGuid: payload.userGuid,
          institutionCode: payload.institutionCode ?? null
        }).pipe(Effect.map(memberView), storeUnavailable, onMxTime))
      .handle("untrack", ({ path, urlParams }) =>
        urlParams.purge === "true"
          ? erasure.erase(path.memberGuid).pipe(
            Effect.filterOrFail(
              (erased) => erased.total > 0,
              () => new NotFound({ detail: `Nothing is stored for member ${path.memberGuid}` })
            ),
            Effect.map(({ runIds: _, ...removed }) => new Purged({ purged: true, removed })),
            Effect.catchTags({
              MemberBusy: (e) => Effect.fail(new Conflict({ detail: e.message })),
              PersistenceError: (e) =>
                Effect.zipRight(
                  Effect.logError("control API: the workflow journal could not be erased", e),
                  Effect.fail(new Unavailable({ detail: unavailable, retryAfter: unavailableRetryAfter }))
                )
            }),
            storeUnavailable
          )
          : tracked.untrack(path.memberGuid).pipe(
            Effect.map((untracked) => new Untracked({ untracked })),
            storeUnavailable
          ))
      .handle("pendingChallenges", ({ urlParams }) => {
        const limit = urlParams.limit ?? defaultPageSize
        const afterId = urlParams.cursor === undefined ? undefined : Number(urlParams.cursor)
        return pending.listPending({ afterId, limit: limit + 1 }).pipe(
          Effect.map((all) => {
            const { next, page } = pageOf(all, limit, (p) => String(p.id))
            return new ChallengesPage({ challenges: page.map(pendingView), next })
          }),
          storeUnavailable
        )
      })
      .handle("answer", ({ path, payload }) =>
        aggregations.answerChallenges(path.memberGuid, payload.answers).pipe(
          Effect.as({ resumed: true as const }),
          Effect.catchTags(answerProblems),
          storeUnavailable
        ))
      .handle("aggregate", ({ path }) => startRun(path.memberGuid, "Manual"))
      .handle("institutionActionDone", ({ path }) => startRun(path.memberGuid, "UserActedAtInstitution"))
      .handle("userPresent", ({ path }) =>
        aggregations.userPresent(path.userGuid).pipe(
          Effect.map((all) => all.map((r) => triggered(r.memberGuid, r.started))),
          storeUnavailable
        ))
      .handle("aggregateUser", ({ path }) =>
        aggregations.aggregateUser(path.userGuid).pipe(
          Effect.map((all) => all.map((r) => triggered(r.memberGuid, r.started))),
          storeUnavailable
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
    Layer.provide([HealthLive, MembersLive, EventsLive, RunsLive]),
    Layer.provide(AuthorizationLive(token))
  )

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
  readonly limits?: ApiLimits.Limits | undefined
  readonly tls?: Tls.Credentials | undefined
}) =>
  HttpApiBuilder.serve(RequestLog.logger).pipe(
    Layer.provide(ProblemResponses.layer),
    Layer.provide(ApiLimits.layer({ limits: options.limits ?? ApiLimits.defaultLimits, token: options.token })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(OperatorConsole.layer()),
    Layer.provide(ApiLive(options.token)),
    HttpServer.withLogAddress,
    Layer.provideMerge(Listener.layer(options))
  )
