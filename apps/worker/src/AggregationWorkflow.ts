/**
 * One aggregation of one member as a durable workflow: observe -> `AggregationPolicy.evaluate` ->
 * aggregate or follow MX's own aggregation -> poll until settled -> act on NextAction: wait durably for
 * MFA answers and poll again (several rounds), pull accounts and transactions on success, or record
 * what the user must do. Every step with effects is an Activity, journaled in SQL: a crash at any
 * point resumes from the journal, and no completed step runs twice.
 *
 * MFA answers never enter the journal: the control API validates them, sends them to MX's resume
 * endpoint itself and then signals the workflow's `DurableDeferred` with no value. The workflow only
 * learns that the member was resumed.
 *
 * @since 0.1.0
 */
import { Activity, DurableClock, DurableDeferred, Workflow } from "@effect/workflow"
import { AggregationPolicy, ConnectionStatus, Member, NextAction, Schedules } from "@mx-aggregation/domain"
import { MxApiError, MxClient } from "@mx-aggregation/mx-api"
import {
  AccountsAndTransactions,
  AggregationRuns,
  Database,
  Outbox,
  PendingChallenges,
  StoreError,
  TrackedMembers
} from "@mx-aggregation/store"
import { Chunk, Clock, Duration, Effect, Option, Random, Ref, Schedule, Schema, Stream } from "effect"
import { EngineConfig, toReal } from "./EngineConfig.js"
import * as Metrics from "./Metrics.js"
import * as MxTime from "./MxTime.js"
import * as RunEnd from "./RunEnd.js"
import * as StatusObservations from "./StatusObservations.js"
import * as Wakeups from "./Wakeups.js"

/**
 * What starts a run.
 *
 * @since 0.1.0
 * @category models
 */
export const RunPayload = Schema.Struct({
  runId: AggregationRuns.RunId,
  memberGuid: Member.MemberGuid,
  userGuid: Member.UserGuid,
  trigger: AggregationPolicy.Trigger,
  userPresent: Schema.Boolean,
  /**
   * Whether a credential update just started an aggregation on MX's side (then follow it, never
   * aggregate again). Left out when unknown: the policy then follows MX's rule
   * (`AggregationPolicy.credentialUpdateStartedAggregation`). Runs journaled by earlier versions carry
   * a boolean, which still decodes.
   */
  credentialUpdateStartedAggregation: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RunPayload extends Schema.Schema.Type<typeof RunPayload> {}

/**
 * How a run ended.
 *
 * @since 0.1.0
 * @category models
 */
export const RunResult = Schema.Struct({
  outcome: AggregationRuns.RunOutcome,
  status: ConnectionStatus.NullableReportedStatus,
  action: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RunResult extends Schema.Schema.Type<typeof RunResult> {}

/**
 * The errors an activity may end with after its retries.
 *
 * @since 0.1.0
 * @category errors
 */
export const ActivityError = Schema.Union(MxApiError.MxApiError, StoreError.StoreError)

/**
 * The aggregation workflow. Its idempotency key is the run id: starting the same run twice attaches
 * to the one execution.
 *
 * @since 0.1.0
 * @category workflows
 */
export const AggregationWorkflow = Workflow.make({
  name: "Aggregation",
  payload: RunPayload,
  success: RunResult,
  idempotencyKey: (payload) => payload.runId
})

/**
 * The execution id of a run. @effect/workflow derives it from the workflow name and the idempotency
 * key only (the run id), so the other payload fields do not matter here.
 *
 * @since 0.1.0
 * @category workflows
 */
export const executionIdOf = (runId: AggregationRuns.RunId): Effect.Effect<string> =>
  AggregationWorkflow.executionId({
    runId,
    memberGuid: Member.MemberGuid.make("-"),
    userGuid: Member.UserGuid.make("-"),
    trigger: "Manual",
    userPresent: false,
    credentialUpdateStartedAggregation: false
  })

/**
 * Signalled (with no value: never the answers) once a pending challenge was answered and the member
 * resumed. One deferred per pending challenge id, so that each MFA round waits on its own.
 *
 * @since 0.1.0
 * @category workflows
 */
export const challengeAnswered = (pendingChallengeId: number) =>
  DurableDeferred.make(`ChallengeAnswered-${pendingChallengeId}`)

/**
 * An Activity whose effect runs on MX time (see `MxTime`). `outlastDatabaseOutage`: a failure of the
 * worker's own database is tried again, on real time, for as long as `Database.connectionWait` waits
 * for a connection, instead of failing the activity (for a step that must happen, such as the one that
 * ends the run and releases its member).
 */
const mxActivity = <
  R,
  Success extends Schema.Schema.Any = typeof Schema.Void,
  Error extends Schema.Schema.All = typeof Schema.Never
>(
  options: {
    readonly name: string
    readonly success?: Success | undefined
    readonly error?: Error | undefined
    readonly execute: Effect.Effect<Success["Type"], Error["Type"], R>
    readonly outlastDatabaseOutage?: boolean | undefined
  }
) => {
  const { execute, outlastDatabaseOutage, ...activity } = options
  const onMxTime = Effect.flatMap(EngineConfig, (config) => MxTime.within(config.mxClock)(execute))
  return Activity.make({
    ...activity,
    execute: outlastDatabaseOutage === true
      ? Effect.retry(onMxTime, { while: databaseFailed, schedule: Database.connectionWait })
      : onMxTime
  })
}

/** A statement of the worker's own database failed (it is unreachable for a while, or restarting). */
const databaseFailed = (error: unknown): boolean =>
  error instanceof StoreError.StoreError && error.reason === "QueryFailed"

/**
 * What a run keeps of a read of the member (journaled). Wider than what earlier versions journaled
 * (known statuses only, a boolean `is_being_aggregated`), so their journals still decode: a status the
 * domain does not know is kept as MX's text, and `is_being_aggregated` is `null` when MX did not say.
 */
const Observed = Schema.Struct({
  connection_status: ConnectionStatus.NullableReportedStatus,
  is_being_aggregated: Schema.NullOr(Schema.Boolean),
  successfully_aggregated_at: Schema.NullOr(Schema.String)
})
type Observed = typeof Observed.Type

const toObserved = (m: Member.Member | Member.MemberStatus): Observed => ({
  connection_status: m.connection_status,
  is_being_aggregated: m.is_being_aggregated,
  successfully_aggregated_at: m.successfully_aggregated_at ?? null
})

const millisOf = (timestamp: string | null | undefined): number | null => {
  if (timestamp === null || timestamp === undefined) return null
  const ms = Date.parse(timestamp)
  return Number.isNaN(ms) ? null : ms
}

/**
 * The stored run reason of a trigger.
 *
 * @since 0.1.0
 * @category models
 */
export const reasonOf = (trigger: AggregationPolicy.Trigger): AggregationRuns.RunReason => {
  switch (trigger) {
    case "Scheduled":
      return "scheduled"
    case "UserPresent":
      return "user_present"
    case "Manual":
      return "manual"
    case "Webhook":
    case "DataUpdated":
      return "webhook"
    case "CredentialsUpdated":
      return "credentials_updated"
    case "UserActedAtInstitution":
      return "user_acted_at_institution"
  }
}

const Decided = Schema.Struct({ observed: Observed, decision: AggregationPolicy.Decision })

/** Reads the member and decides what the run does. */
const observeAndDecide = (payload: RunPayload) =>
  mxActivity({
    name: "ObserveAndDecide",
    success: Decided,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const tracked = yield* TrackedMembers.TrackedMembers
      const data = yield* AccountsAndTransactions.AccountsAndTransactions
      const config = yield* EngineConfig
      yield* runs.start({ runId: payload.runId, memberGuid: payload.memberGuid, reason: reasonOf(payload.trigger) })
      const member = yield* mx.readMember({ userGuid: payload.userGuid, memberGuid: payload.memberGuid })
      yield* runs.addMxCalls(payload.runId, 1)
      const observed = toObserved(member)
      yield* recordObservation(payload, observed)
      const now = yield* Clock.currentTimeMillis
      const watermark = yield* data.watermark(payload.memberGuid)
      const previous = yield* tracked.get(payload.memberGuid)
      const decision = AggregationPolicy.evaluate({
        observation: observed,
        trigger: payload.trigger,
        userPresent: payload.userPresent,
        now,
        lastPulledAt: Option.getOrNull(Option.map(watermark, (w) => w.lastPulledAt)),
        lastAggregateCalledAt: Option.getOrNull(
          Option.flatMap(previous, (m) => Option.fromNullable(m.lastAggregateCalledAt))
        ),
        nextCheckAt: Option.getOrNull(Option.flatMap(previous, (m) => Option.fromNullable(m.nextDueAt))),
        credentialUpdateStartedAggregation: payload.credentialUpdateStartedAggregation
      }, config.policy)
      return { observed, decision }
    })
  })

const recordObservation = (payload: RunPayload, observed: Observed) =>
  Effect.gen(function*() {
    const runs = yield* AggregationRuns.AggregationRuns
    yield* runs.observe(payload.runId, observed.connection_status)
    yield* StatusObservations.record({
      memberGuid: payload.memberGuid,
      userGuid: payload.userGuid,
      runId: payload.runId,
      status: observed.connection_status,
      isBeingAggregated: observed.is_being_aggregated,
      successfullyAggregatedAt: millisOf(observed.successfully_aggregated_at)
    })
  })

/**
 * Calls aggregate, at most once per run. The call is recorded before it is made: if the activity runs
 * again after a crash (its result was never journaled), the run first reads the member and skips the
 * call when MX is already aggregating it or aggregated it since the first attempt, so that a crash
 * never starts a second aggregation.
 */
const aggregate = (payload: RunPayload) =>
  mxActivity({
    name: "Aggregate",
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const tracked = yield* TrackedMembers.TrackedMembers
      const ref = { userGuid: payload.userGuid, memberGuid: payload.memberGuid }
      const run = yield* runs.get(payload.runId)
      const member = yield* tracked.get(payload.memberGuid)
      const startedAt = Option.match(run, { onNone: () => null, onSome: (r) => r.run.startedAt })
      const attemptedAt = Option.match(member, { onNone: () => null, onSome: (m) => m.lastAggregateCalledAt })
      if (startedAt !== null && attemptedAt !== null && attemptedAt >= startedAt) {
        const current = yield* mx.readMember(ref)
        yield* runs.addMxCalls(payload.runId, 1)
        const aggregatedAt = millisOf(current.aggregated_at)
        // MX's clock and ours may differ a little: a minute of slack. MX not saying whether it is
        // aggregating counts as aggregating (as in the domain's rules): no second aggregate on a guess.
        if (current.is_being_aggregated !== false || (aggregatedAt !== null && aggregatedAt >= attemptedAt - 60_000)) {
          yield* Effect.logInfo("aggregate already accepted before a restart; not calling it again").pipe(
            Effect.annotateLogs({ memberGuid: payload.memberGuid, runId: payload.runId })
          )
          return
        }
      }
      yield* tracked.recordAggregateCalled(payload.memberGuid, yield* Clock.currentTimeMillis)
      yield* mx.aggregateMember(ref)
      yield* runs.addMxCalls(payload.runId, 1)
    })
  })

/**
 * Polls the member's status on the domain's schedule (never sooner than 3 s of MX time after the
 * previous read, the first poll included) until the member is settled (`NextAction.isSettled`) or
 * the polling deadline passes. A webhook about the member (see `Wakeups`) brings the next poll forward.
 */
const pollUntilSettled = (payload: RunPayload, round: number) =>
  mxActivity({
    name: `PollUntilSettled-${round}`,
    success: Observed,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const config = yield* EngineConfig
      const wakeups = yield* Wakeups.Wakeups
      const last = yield* Ref.make<Observed | undefined>(undefined)
      const polls = yield* Ref.make(0)
      const driver = yield* Schedule.driver(Schedules.statusPolling(config.polling))
      const poll = Effect.gen(function*() {
        const status = yield* mx.readMemberStatus({ userGuid: payload.userGuid, memberGuid: payload.memberGuid })
        yield* Ref.update(polls, (n) => n + 1)
        const observed = toObserved(status)
        const previous = yield* Ref.getAndSet(last, observed)
        if (
          previous === undefined || previous.connection_status !== observed.connection_status ||
          previous.is_being_aggregated !== observed.is_being_aggregated
        ) {
          yield* recordObservation(payload, observed)
        }
        return observed
      })
      // The next poll: on the schedule, or earlier when a webhook wakes the member, but never sooner
      // than MX's 3 s after the previous poll. `false` once the polling deadline has passed.
      const waitForNextPoll = (observed: Observed) =>
        Effect.raceFirst(
          Effect.as(driver.next(observed), true),
          Effect.zipRight(
            wakeups.awaitWake(payload.memberGuid),
            Effect.as(Effect.sleep(AggregationPolicy.minimumPollInterval), true)
          )
        ).pipe(Effect.catchAll(() => Effect.succeed(false)))
      yield* Effect.sleep(AggregationPolicy.minimumPollInterval)
      yield* Effect.gen(function*() {
        while (true) {
          const observed = yield* poll
          if (NextAction.isSettled(observed)) return
          if (!(yield* waitForNextPoll(observed))) return
        }
      }).pipe(
        Effect.ensuring(Effect.flatMap(Ref.get(polls), (n) =>
          Effect.zipRight(Metrics.pollRoundEnded(n), runs.addMxCalls(payload.runId, n).pipe(Effect.ignore))))
      )
      return (yield* Ref.get(last))!
    })
  })

const Challenged = Schema.Struct({ pendingId: Schema.NullOr(Schema.Number) })

/**
 * Counts the list rows MX sent that the client left out because they did not decode (its `onSkipped`),
 * for `record` to add to the run's `rowsSkipped`.
 */
const skippedRows = (runId: AggregationRuns.RunId) =>
  Effect.gen(function*() {
    const runs = yield* AggregationRuns.AggregationRuns
    const count = yield* Ref.make(0)
    return {
      onSkipped: () => Ref.update(count, (n) => n + 1),
      record: Effect.flatMap(Ref.get(count), (n) => n === 0 ? Effect.void : runs.addRowsSkipped(runId, n))
    }
  })

/** Lists the challenges, stores them (never answers) and tells the partner. */
const storeChallenges = (payload: RunPayload, round: number) =>
  mxActivity({
    name: `StoreChallenges-${round}`,
    success: Challenged,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const pending = yield* PendingChallenges.PendingChallenges
      const outbox = yield* Outbox.Outbox
      const config = yield* EngineConfig
      const skipped = yield* skippedRows(payload.runId)
      const challenges = yield* mx.listMemberChallenges({
        userGuid: payload.userGuid,
        memberGuid: payload.memberGuid,
        onSkipped: skipped.onSkipped
      })
      yield* runs.addMxCalls(payload.runId, 1)
      yield* skipped.record
      // 204: no longer challenged (answered elsewhere, or already moved on); poll again.
      if (challenges.length === 0) return { pendingId: null }
      const now = yield* Clock.currentTimeMillis
      const stored = yield* pending.add({
        memberGuid: payload.memberGuid,
        runId: payload.runId,
        challenges,
        expiresAt: now + Duration.toMillis(config.mfaTimeout)
      })
      yield* outbox.append({
        memberGuid: payload.memberGuid,
        userGuid: payload.userGuid,
        type: "mfa_required",
        payload: {
          run_id: payload.runId,
          challenges: challenges.map((c) => ({ guid: c.guid, type: c.type, label: c.label ?? null }))
        }
      })
      yield* Metrics.mfaWaitStarted
      return { pendingId: stored.id }
    })
  })

/** Pulls accounts and the transactions created or updated since the watermark. */
const pullData = (payload: RunPayload) =>
  mxActivity({
    name: "PullData",
    success: Schema.Struct({ accounts: Schema.Number, transactions: Schema.Number }),
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const data = yield* AccountsAndTransactions.AccountsAndTransactions
      const outbox = yield* Outbox.Outbox
      const config = yield* EngineConfig
      const ref = { userGuid: payload.userGuid, memberGuid: payload.memberGuid }
      const calls = yield* Ref.make(0)
      const counted = <A, E, R>(stream: Stream.Stream<A, E, R>) =>
        stream.pipe(Stream.chunks, Stream.tap(() => Ref.update(calls, (n) => n + 1)), Stream.flattenChunks)
      const skipped = yield* skippedRows(payload.runId)
      const accounts = yield* Stream.runCollect(
        counted(mx.listMemberAccounts({ ...ref, onSkipped: skipped.onSkipped }))
      )
      yield* data.upsertAccounts({ ...ref, accounts: Chunk.toReadonlyArray(accounts) })
      const watermark = yield* data.watermark(payload.memberGuid)
      const since = Option.flatMap(watermark, (w) => Option.fromNullable(w.maxUpdatedAt))
      const maxUpdatedAt = yield* Ref.make<string | null>(Option.getOrNull(since))
      const transactions = yield* counted(
        mx.listTransactionsByMember({
          ...ref,
          ...(Option.isSome(since) ? { fromUpdatedAt: since.value } : {}),
          onSkipped: skipped.onSkipped
        })
      ).pipe(
        Stream.grouped(500),
        Stream.mapEffect((batch) => {
          const rows = Chunk.toReadonlyArray(batch)
          return data.upsertTransactions({ ...ref, transactions: rows }).pipe(
            Effect.zipRight(
              Ref.update(maxUpdatedAt, (max) =>
                rows.reduce((m, t) => (t.updated_at && (m === null || t.updated_at > m) ? t.updated_at : m), max))
            ),
            Effect.as(rows.length)
          )
        }, { concurrency: config.pullConcurrency }),
        Stream.runFold(0, (n, k) =>
          n + k)
      )
      yield* data.advanceWatermark({ memberGuid: payload.memberGuid, maxUpdatedAt: yield* Ref.get(maxUpdatedAt) })
      yield* runs.addMxCalls(payload.runId, yield* Ref.get(calls))
      yield* skipped.record
      yield* outbox.append({
        memberGuid: payload.memberGuid,
        userGuid: payload.userGuid,
        type: "data_updated",
        payload: { run_id: payload.runId, accounts: accounts.length, transactions }
      })
      return { accounts: accounts.length, transactions }
    })
  })

interface Ending {
  readonly outcome: AggregationRuns.RunOutcome
  readonly status: ConnectionStatus.NullableReportedStatus
  readonly action: NextAction.NextAction | null
  readonly event: Outbox.EventType | null
  readonly needsUserReason: string | null
  readonly failed: boolean
  readonly failureReason: string | null
  /** When the member is due again: a time, never, by the policy, or at once. */
  readonly nextDueAt: number | null | "policy" | "now"
}

/**
 * Records the outcome, schedules the next check, tells the partner, and releases the member, together
 * (`RunEnd.endRun`): after a crash in this step, or when recovery ended the run meanwhile, it changes
 * nothing a second time.
 */
const finish = (payload: RunPayload, ending: Ending) =>
  mxActivity({
    name: "Finish",
    error: ActivityError,
    // Only this step releases the member: it waits for the database rather than leave it claimed.
    outlastDatabaseOutage: true,
    execute: Effect.gen(function*() {
      const runs = yield* AggregationRuns.AggregationRuns
      const tracked = yield* TrackedMembers.TrackedMembers
      const config = yield* EngineConfig
      const now = yield* Clock.currentTimeMillis
      // Spread next checks over ±10 % of the delay, so that members aggregated together do not stay in step.
      const jitter = yield* Random.next
      const member = yield* tracked.get(payload.memberGuid)
      const failures = Option.match(member, { onNone: () => 0, onSome: (m) => m.consecutiveFailures })
      // A failed run (an MX error that outlasted the client's retries) is retried like provider trouble.
      const nextAction = ending.action ?? (ending.failed ? new NextAction.RetryLater({ status: "FAILED" }) : null)
      const nextDueAt = ending.nextDueAt === "now"
        ? now
        : ending.nextDueAt !== "policy"
        ? ending.nextDueAt
        : nextAction === null
        ? null
        : Option.match(AggregationPolicy.nextCheckAfter(nextAction, failures, config.policy), {
          onNone: () => null,
          onSome: (d) => now + Math.round(Duration.toMillis(d) * (0.9 + 0.2 * jitter))
        })
      const ended = yield* RunEnd.endRun({
        runId: payload.runId,
        memberGuid: payload.memberGuid,
        outcome: ending.outcome,
        failureReason: ending.failureReason,
        member: {
          nextAction: ending.action?._tag ?? null,
          userAction: ending.action && NextAction.needsUser(ending.action) ? NextAction.describe(ending.action) : null,
          needsUserReason: ending.needsUserReason,
          nextDueAt,
          failed: ending.failed
        },
        event: ending.event === null ? null : {
          userGuid: payload.userGuid,
          type: ending.event,
          payload: {
            run_id: payload.runId,
            connection_status: ending.status,
            outcome: ending.outcome,
            action: ending.action?._tag ?? null,
            message: ending.action ? NextAction.describe(ending.action) : null
          }
        }
      })
      if (!ended) return
      const started = yield* runs.get(payload.runId)
      yield* Metrics.runSettled({
        outcome: ending.outcome,
        status: ending.status,
        durationMillis: Option.match(started, { onNone: () => null, onSome: (r) => now - r.run.startedAt })
      })
    })
  })

const endingFor = (observed: Observed, action: NextAction.NextAction): Ending => {
  const base = {
    status: observed.connection_status,
    action,
    failed: false,
    failureReason: null,
    needsUserReason: null,
    nextDueAt: "policy" as const
  }
  switch (action._tag) {
    case "PullData":
      return { ...base, outcome: "connected", event: null }
    case "UpdateCredentials":
      return { ...base, outcome: "credentials_required", event: "credentials_required", needsUserReason: "credentials" }
    case "StartNewAggregation":
      return { ...base, outcome: "needs_user_present", event: "user_presence_required", needsUserReason: "presence" }
    case "ActAtInstitution":
      return {
        ...base,
        outcome: "institution_action_required",
        event: "institution_action_required",
        needsUserReason: "institution"
      }
    case "RetryLater":
      return { ...base, outcome: "retry_later", event: "retry_scheduled", failed: true }
    case "CompleteOAuth":
      return { ...base, outcome: "awaiting_oauth", event: "oauth_required", needsUserReason: "oauth" }
    case "StopAggregating":
      return { ...base, outcome: "terminal", event: "stopped" }
    case "NotAggregatable":
      return { ...base, outcome: "not_aggregatable", event: null }
    case "KeepPolling":
      return {
        ...base,
        outcome: "retry_later",
        event: "retry_scheduled",
        failed: true,
        failureReason: "the aggregation did not settle before the polling deadline"
      }
    case "AnswerChallenges":
      return { ...base, outcome: "needs_user_present", event: "user_presence_required", needsUserReason: "presence" }
  }
}

const decisionEnding = (observed: Observed, decision: AggregationPolicy.Decision): Ending => {
  const base = {
    status: observed.connection_status,
    action: NextAction.decide(observed),
    failed: false,
    failureReason: null,
    needsUserReason: null
  }
  switch (decision._tag) {
    case "NotNow":
      return { ...base, outcome: "skipped", event: null, nextDueAt: decision.until }
    case "NeedsUser":
      return {
        ...endingFor(observed, NextAction.decide(observed)),
        needsUserReason: decision.need,
        // LOCKED/IMPEDED: due again after the policy's institution back-off (`nextCheckAfter`), when
        // the policy tries again by itself; any other need waits for the user.
        nextDueAt: decision.need === "institution" ? "policy" : null
      }
    case "Stop":
      return { ...endingFor(observed, NextAction.decide(observed)), nextDueAt: null }
    default:
      return { ...base, outcome: "skipped", event: null, nextDueAt: "policy" }
  }
}

/** The run after the member settled: MFA rounds, then the outcome. */
const settle = (payload: RunPayload, firstRound: number, startWithChallenge: Observed | null) =>
  Effect.gen(function*() {
    let round = firstRound
    let observed = startWithChallenge ?? (yield* pollUntilSettled(payload, round))
    while (true) {
      // KeepPolling means the polling deadline passed while MX was still aggregating (or still reported
      // a status the domain does not know): `NextAction.isSettled` is exactly "decide is not KeepPolling".
      const action = NextAction.decide(observed)
      if (action._tag !== "AnswerChallenges") {
        if (action._tag === "PullData") {
          yield* pullData(payload)
          return yield* finishWith(payload, { ...endingFor(observed, action), event: null })
        }
        return yield* finishWith(payload, endingFor(observed, action))
      }
      const { pendingId } = yield* storeChallenges(payload, round)
      if (pendingId !== null) {
        const answered = yield* awaitAnswers(payload, round, pendingId)
        // The member moved on without our answers (answered elsewhere, or MX's own timeout).
        if (answered === "MovedOn") yield* closeChallenge(payload, round, "superseded")
        if (answered === "TimedOut") {
          yield* closeChallenge(payload, round, "expired")
          return yield* finishWith(payload, {
            outcome: "needs_user_present",
            status: "CHALLENGED",
            action: new NextAction.StartNewAggregation({ status: "EXPIRED", userPresenceRequired: true }),
            event: "user_presence_required",
            needsUserReason: "presence",
            failed: false,
            failureReason: "MFA challenge not answered in time: a new aggregation needs the user present",
            nextDueAt: null
          })
        }
      }
      round++
      observed = yield* pollUntilSettled(payload, round)
    }
  })

/** Whether the member is still CHALLENGED (one status read). */
const stillChallenged = (payload: RunPayload, round: number, check: number, pendingId: number) =>
  mxActivity({
    name: `CheckChallenge-${round}-${check}`,
    success: Schema.Boolean,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const pending = yield* PendingChallenges.PendingChallenges
      const status = yield* mx.readMemberStatus({ userGuid: payload.userGuid, memberGuid: payload.memberGuid })
      yield* runs.addMxCalls(payload.runId, 1)
      if (status.connection_status !== "CHALLENGED") return false
      // CHALLENGED again with other questions: the round we wait on was answered (its signal lost, e.g. in
      // a crash right after the resume) and MX asks the next one.
      const waitingOn = yield* pending.current(payload.memberGuid)
      const asked = new Set(status.challenges.map((c) => c.guid as string))
      return Option.match(waitingOn, {
        onNone: () => true,
        onSome: (p) => p.id !== pendingId || asked.size === 0 || p.challenges.some((c) => asked.has(c.guid))
      })
    })
  })

/**
 * Waits durably for the answers, up to the MFA timeout, in slices of `challengeWatchInterval`: after
 * each slice without answers the run checks that the member is still CHALLENGED, so that answers given
 * elsewhere, a resume whose signal was lost in a crash, or MX's own timeout move the run on.
 */
const awaitAnswers = (payload: RunPayload, round: number, pendingId: number) =>
  Effect.gen(function*() {
    const config = yield* EngineConfig
    const timeout = Duration.toMillis(config.mfaTimeout)
    const slice = Math.max(
      Duration.toMillis(config.challengeWatchInterval),
      Duration.toMillis(AggregationPolicy.minimumPollInterval)
    )
    for (let check = 0, waited = 0; waited < timeout; check++) {
      const wait = Math.min(slice, timeout - waited)
      waited += wait
      const result = yield* DurableDeferred.raceAll({
        name: `AwaitAnswers-${round}-${check}`,
        success: Schema.Literal("Answered", "Waited"),
        error: Schema.Never,
        effects: [
          DurableDeferred.await(challengeAnswered(pendingId)).pipe(Effect.as("Answered" as const)),
          DurableClock.sleep({
            name: `AnswersWait-${round}-${check}`,
            duration: toReal(config, Duration.millis(wait)),
            inMemoryThreshold: "1 millis"
          }).pipe(Effect.as("Waited" as const))
        ]
      })
      if (result === "Answered") return "Answered" as const
      if (waited < timeout && !(yield* stillChallenged(payload, round, check, pendingId))) return "MovedOn" as const
    }
    return "TimedOut" as const
  })

const closeChallenge = (payload: RunPayload, round: number, resolution: "expired" | "superseded") =>
  mxActivity({
    name: `CloseChallenge-${round}`,
    error: ActivityError,
    execute: Effect.asVoid(
      Effect.flatMap(
        PendingChallenges.PendingChallenges,
        (pending) => pending.resolve({ memberGuid: payload.memberGuid, runId: payload.runId, resolution })
      ).pipe(Effect.zipLeft(Metrics.mfaWaitEnded(resolution === "expired" ? "timed_out" : "superseded")))
    )
  })

const finishWith = (payload: RunPayload, ending: Ending) =>
  Effect.as(
    finish(payload, ending),
    {
      outcome: ending.outcome,
      status: ending.status,
      action: ending.action?._tag ?? "None"
    } satisfies RunResult
  )

/** The run's steps. */
const run = (payload: RunPayload) =>
  Effect.gen(function*() {
    const { decision, observed } = yield* observeAndDecide(payload)
    switch (decision._tag) {
      case "Aggregate":
        yield* aggregate(payload)
        return yield* settle(payload, 0, null)
      case "FollowAggregation":
        return yield* settle(payload, 0, null)
      case "AnswerChallenges":
        return yield* settle(payload, 0, observed)
      case "PullOnly":
        yield* pullData(payload)
        return yield* finishWith(payload, {
          outcome: "pulled_only",
          status: observed.connection_status,
          action: NextAction.decide(observed),
          event: null,
          needsUserReason: null,
          failed: false,
          failureReason: null,
          nextDueAt: "policy"
        })
      case "NotNow":
      case "NeedsUser":
      case "Stop":
        return yield* finishWith(payload, decisionEnding(observed, decision))
    }
  })

/**
 * The workflow's implementation. A failure that survives the MX client's and the activities' retries
 * ends the run as `failed` with its reason recorded and a retry scheduled; it never stops the daemon.
 *
 * @since 0.1.0
 * @category layers
 */
export const AggregationWorkflowLive = AggregationWorkflow.toLayer((payload) =>
  run(payload).pipe(
    Effect.catchAll((error) => {
      // A statement of the worker's own database failed (it was unreachable for a while): no sign of
      // trouble at MX, so the member is due again at once, without MX's provider-trouble backoff.
      const ownDatabase = databaseFailed(error)
      return finishWith(payload, {
        outcome: "failed",
        status: null,
        action: null,
        event: "retry_scheduled",
        needsUserReason: null,
        failed: !ownDatabase,
        failureReason: `${error._tag}: ${error.message}`,
        nextDueAt: ownDatabase ? "now" : "policy"
      }).pipe(Effect.orDie)
    }),
    Effect.annotateLogs({ memberGuid: payload.memberGuid, runId: payload.runId }),
    Effect.withSpan("AggregationWorkflow", { attributes: { runId: payload.runId, memberGuid: payload.memberGuid } })
  )
)
