/**
 * Recovering runs the worker lost track of: claimed runs whose workflow never started or died in the
 * engine (`recover`), stalled runs whose messages the engine must deliver again, and runs that made no
 * progress for `EngineConfig.staleRunAfter` (`reapStale`), ended as failed with their member freed.
 *
 * @since 0.1.0
 */
import { MessageStorage, type Sharding } from "@effect/cluster"
import type { SqlClient } from "@effect/sql"
import { WorkflowEngine } from "@effect/workflow"
import { type Member, RunOutcome } from "@mx-aggregation/domain"
import {
  AggregationRuns,
  type Outbox,
  type PendingChallenges,
  type StoreError,
  TrackedMembers
} from "@mx-aggregation/store"
import { Clock, Duration, Effect, Option } from "effect"
import * as EngineConfig from "./EngineConfig.js"
import * as EngineEntities from "./EngineEntities.js"
import * as RunEnd from "./RunEnd.js"
import type { Starter } from "./RunStart.js"
import { AggregationWorkflow, executionIdOf } from "./RunWorkflow.js"

/**
 * Ends a run that will not end by itself (stopped, or its workflow died): recorded as failed, the
 * member released and due again. `countFailure`: the failure counts towards the policy's backoff (a
 * run that made no progress); a workflow the engine lost is no sign of trouble at MX. `false`, with
 * nothing changed, when the run ended meanwhile (its workflow finished it since recovery read it).
 */
const abandon = (
  memberGuid: Member.MemberGuid,
  runId: AggregationRuns.RunId,
  failureReason: string,
  countFailure: boolean
) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    RunEnd.endRun({
      runId,
      memberGuid,
      outcome: "failed",
      failureReason,
      member: { nextAction: null, userAction: null, needsUserReason: null, nextDueAt: now, failed: countFailure },
      event: null
    }))

/** A run whose member the worker has not read for this long (MX time) has stalled. */
const stalledAfter = (config: EngineConfig.Service) =>
  Duration.toMillis(Duration.times(
    Duration.max(config.challengeWatchInterval, Duration.decode(config.polling.cap ?? "30 seconds")),
    20
  ))

/** Makes the unprocessed messages of a run's workflow (and of its durable clock) unread. */
const redeliver = (executionId: string) =>
  EngineEntities.journalAddresses(executionId).pipe(
    Effect.flatMap((addresses) =>
      Effect.flatMap(MessageStorage.MessageStorage, (messages) =>
        Effect.forEach(addresses, (address) => messages.resetAddress(address), { discard: true }))
    ),
    Effect.catchAll((error) =>
      Effect.logWarning("could not deliver a stalled run's messages again", error)
    )
  )

/** Restarts claimed runs whose workflow may never have started; ends those whose workflow died. */
const recover = (runs: Pick<Starter, "execute">): Effect.Effect<number, StoreError.StoreError, Requirements> =>
  Effect.gen(function*() {
    const config = yield* EngineConfig.EngineConfig
    const tracked = yield* TrackedMembers.TrackedMembers
    const journal = yield* AggregationRuns.AggregationRuns
    const active = yield* tracked.listActive
    const now = yield* Clock.currentTimeMillis
    let restarted = 0
    for (const member of active) {
      if (member.activeRunId === null) continue
      const run = yield* journal.get(member.activeRunId)
      if (Option.isNone(run)) {
        // Claimed by a run that was never recorded (a database from before claims and runs were
        // written together): free the member.
        yield* tracked.release(member.memberGuid, member.activeRunId)
        continue
      }
      if (run.value.run.endedAt !== null) {
        yield* tracked.release(member.memberGuid, member.activeRunId)
        continue
      }
      const executionId = yield* executionIdOf(member.activeRunId)
      const result = yield* AggregationWorkflow.poll(executionId)
      if (result?._tag === "Complete") {
        // The workflow ended without ending its run: it died in the engine (e.g. a journal write that
        // failed), which the run's own failure handling never sees. Starting it again would only
        // return that result.
        const ended = yield* abandon(
          member.memberGuid,
          member.activeRunId,
          "the run's workflow ended without finishing the run (it died in the workflow engine)",
          false
        )
        // Not ended here: its workflow finished the run since it was read above.
        if (ended) {
          yield* Effect.logWarning("run whose workflow died ended as failed; the member is due again").pipe(
            Effect.annotateLogs({ memberGuid: member.memberGuid, runId: member.activeRunId })
          )
        }
        continue
      }
      // Starts the workflow if it never got its first message; does nothing to one that runs.
      yield* runs.execute({
        runId: member.activeRunId,
        memberGuid: member.memberGuid,
        userGuid: member.userGuid,
        trigger: RunOutcome.triggerOf(run.value.run.reason),
        userPresent: RunOutcome.isUserTrigger(RunOutcome.triggerOf(run.value.run.reason))
        // credentialUpdateStartedAggregation left out: unknown here (the policy follows MX's rule).
      }).pipe(Effect.orDie)
      // A workflow whose member nobody has read for a long time has stalled. The engine marks a message
      // read when it fetches it and leaves it alone for 10 minutes, so a message whose fetch was cut off
      // (a database outage) waits that long: its workflow's messages are made unread (an entity already
      // handling one ignores the copy). A suspended one missed its wake-up (a timer or an answer whose
      // delivery the engine lost): resumed from its journal.
      const lastActivity = Math.max(member.lastReadAt ?? 0, member.claimedAt ?? 0)
      if (now - lastActivity > stalledAfter(config)) {
        yield* redeliver(executionId)
        if (result?._tag === "Suspended") {
          yield* WorkflowEngine.WorkflowEngine.pipe(
            Effect.flatMap((engine) => engine.resume(AggregationWorkflow, executionId))
          )
        }
        yield* Effect.logWarning("stalled run: its messages delivered again").pipe(
          Effect.annotateLogs({
            memberGuid: member.memberGuid,
            runId: member.activeRunId,
            workflow: result?._tag ?? "Running"
          })
        )
      }
      restarted++
    }
    return restarted
  })

/** Stops runs that made no progress for `staleRunAfter`; ends them as failed and frees their members. */
const reapStale: Effect.Effect<number, StoreError.StoreError, Requirements> = Effect.gen(function*() {
  const config = yield* EngineConfig.EngineConfig
  const tracked = yield* TrackedMembers.TrackedMembers
  const now = yield* Clock.currentTimeMillis
  const staleAfter = Duration.toMillis(config.staleRunAfter)
  let reaped = 0
  for (const member of yield* tracked.listActive) {
    const runId = member.activeRunId
    if (runId === null || member.claimedAt === null || now - member.claimedAt < staleAfter) continue
    const executionId = yield* executionIdOf(runId)
    yield* AggregationWorkflow.interrupt(executionId).pipe(
      Effect.timeout("10 seconds"),
      Effect.ignore
    )
    const ended = yield* abandon(
      member.memberGuid,
      runId,
      `the run made no progress for ${Duration.format(config.staleRunAfter)}; it was stopped`,
      true
    )
    if (!ended) continue
    yield* Effect.logWarning("stale run stopped; the member is due again").pipe(
      Effect.annotateLogs({ memberGuid: member.memberGuid, runId })
    )
    reaped++
  }
  return reaped
})

/** What recovery needs. */
type Requirements =
  | EngineConfig.EngineConfig
  | WorkflowEngine.WorkflowEngine
  | Sharding.Sharding
  | MessageStorage.MessageStorage
  | SqlClient.SqlClient
  | AggregationRuns.AggregationRuns
  | TrackedMembers.TrackedMembers
  | Outbox.Outbox
  | PendingChallenges.PendingChallenges

/**
 * Recovery (`Aggregations.recover`, `Aggregations.reapStale`), starting workflows again with `runs`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (runs: Pick<Starter, "execute">) =>
  Effect.map(Effect.context<Requirements>(), (context) => ({
    recover: Effect.provide(recover(runs), context),
    reapStale: Effect.provide(reapStale, context)
  }))
