/**
 * The steps of a run, each an Activity journaled by the engine: observe the member and decide
 * (`AggregationPolicy.evaluate`), call aggregate at most once, poll until the member settles, pull
 * accounts and transactions, and end the run (`RunEnd.endRun`, with the domain's `RunOutcome` ending).
 * The MFA round's steps are in `MfaRound`; the order of the steps in `AggregationWorkflow`.
 *
 * @since 0.1.0
 */
import { AggregationPolicy, NextAction, RunOutcome, Schedules } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { AccountsAndTransactions, AggregationRuns, Outbox, TrackedMembers } from "@mx-aggregation/store"
import { Chunk, Clock, Effect, Option, Random, Ref, Schedule, Schema, Stream } from "effect"
import { EngineConfig } from "./EngineConfig.js"
import * as Metrics from "./Metrics.js"
import * as RunActivity from "./RunActivity.js"
import * as RunEnd from "./RunEnd.js"
import { ActivityError, type RunPayload, type RunResult } from "./RunWorkflow.js"
import * as Wakeups from "./Wakeups.js"

const { millisOf, mxActivity, recordObservation, skippedRows, toObservation } = RunActivity

const Decided = Schema.Struct({ observed: NextAction.Observation, decision: AggregationPolicy.Decision })

/**
 * Reads the member and decides what the run does.
 *
 * @since 0.1.0
 * @category steps
 */
export const observeAndDecide = (payload: RunPayload) =>
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
      yield* runs.start({
        runId: payload.runId,
        memberGuid: payload.memberGuid,
        reason: RunOutcome.reasonOf(payload.trigger)
      })
      const member = yield* mx.readMember({ userGuid: payload.userGuid, memberGuid: payload.memberGuid })
      yield* runs.addMxCalls(payload.runId, 1)
      const observed = toObservation(member)
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
/**
 * Calls aggregate, at most once per run. The call is recorded before it is made: if the activity runs
 * again after a crash (its result was never journaled), the run first reads the member and skips the
 * call when MX is already aggregating it or aggregated it since the first attempt, so that a crash
 * never starts a second aggregation.
 *
 * @since 0.1.0
 * @category steps
 */
export const aggregate = (payload: RunPayload) =>
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
 *
 * @since 0.1.0
 * @category steps
 */
export const pollUntilSettled = (payload: RunPayload, round: number) =>
  mxActivity({
    name: `PollUntilSettled-${round}`,
    success: NextAction.Observation,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const config = yield* EngineConfig
      const wakeups = yield* Wakeups.Wakeups
      const last = yield* Ref.make<NextAction.Observation | undefined>(undefined)
      const polls = yield* Ref.make(0)
      const driver = yield* Schedule.driver(Schedules.statusPolling(config.polling))
      const poll = Effect.gen(function*() {
        const status = yield* mx.readMemberStatus({ userGuid: payload.userGuid, memberGuid: payload.memberGuid })
        yield* Ref.update(polls, (n) => n + 1)
        const observed = toObservation(status)
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
      const waitForNextPoll = (observed: NextAction.Observation) =>
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

/**
 * Pulls accounts and the transactions created or updated since the watermark.
 *
 * @since 0.1.0
 * @category steps
 */
export const pullData = (payload: RunPayload) =>
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

/**
 * Records the outcome, schedules the next check, tells the partner, and releases the member, together
 * (`RunEnd.endRun`): after a crash in this step, or when recovery ended the run meanwhile, it changes
 * nothing a second time.
 *
 * @since 0.1.0
 * @category steps
 */
export const finish = (payload: RunPayload, ending: RunOutcome.Ending) =>
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
      const member = yield* tracked.get(payload.memberGuid)
      const nextDueAt = RunOutcome.nextDueAt(ending, {
        now,
        consecutiveFailures: Option.match(member, { onNone: () => 0, onSome: (m) => m.consecutiveFailures }),
        jitter: yield* Random.next,
        options: config.policy
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

/**
 * Ends the run (`finish`) and returns its result.
 *
 * @since 0.1.0
 * @category steps
 */
export const finishWith = (payload: RunPayload, ending: RunOutcome.Ending) =>
  Effect.as(
    finish(payload, ending),
    {
      outcome: ending.outcome,
      status: ending.status,
      action: ending.action?._tag ?? "None"
    } satisfies RunResult
  )
