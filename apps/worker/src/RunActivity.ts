/**
 * What every step of a run shares: activities that run on MX time, what a run keeps of a read of its
 * member, and the counting of list rows MX sent that did not decode.
 *
 * @since 0.1.0
 */
import { Activity } from "@effect/workflow"
import type { Member, NextAction } from "@mx-aggregation/domain"
import { AggregationRuns, Database, StoreError } from "@mx-aggregation/store"
import { Effect, Ref, type Schema } from "effect"
import { EngineConfig } from "./EngineConfig.js"
import * as MxTime from "./MxTime.js"
import type { RunPayload } from "./RunWorkflow.js"
import * as StatusObservations from "./StatusObservations.js"

/**
 * An Activity whose effect runs on MX time (see `MxTime`): the one place a run's steps are put on it,
 * while the workflow around them (its durable sleeps, the engine's calls) stays on real time.
 * `outlastDatabaseOutage`: a failure of the worker's own database is tried again, on real time, for as
 * long as `Database.connectionWait` waits for a connection, instead of failing the activity (for a
 * step that must happen, such as the one that ends the run and releases its member).
 *
 * @since 0.1.0
 * @category activities
 */
export const mxActivity = <
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

/**
 * A statement of the worker's own database failed (it is unreachable for a while, or restarting).
 *
 * @since 0.1.0
 * @category errors
 */
export const databaseFailed = (error: unknown): boolean =>
  error instanceof StoreError.StoreError && error.reason === "QueryFailed"

/**
 * What a run keeps of a read of the member (journaled as `NextAction.Observation`, with the three
 * fields earlier versions journaled, so that their journals still decode).
 *
 * @since 0.1.0
 * @category observations
 */
export const toObservation = (m: Member.Member | Member.MemberStatus): NextAction.Observation => ({
  connection_status: m.connection_status,
  is_being_aggregated: m.is_being_aggregated,
  successfully_aggregated_at: m.successfully_aggregated_at ?? null
})

/**
 * An MX timestamp as epoch ms, `null` when absent or unreadable.
 *
 * @since 0.1.0
 * @category observations
 */
export const millisOf = (timestamp: string | null | undefined): number | null => {
  if (timestamp === null || timestamp === undefined) return null
  const ms = Date.parse(timestamp)
  return Number.isNaN(ms) ? null : ms
}

/**
 * Records a read of the member: in the run's observations and as the member's status.
 *
 * @since 0.1.0
 * @category observations
 */
export const recordObservation = (payload: RunPayload, observation: NextAction.Observation) =>
  Effect.gen(function*() {
    const runs = yield* AggregationRuns.AggregationRuns
    yield* runs.observe(payload.runId, observation.connection_status)
    yield* StatusObservations.record({
      memberGuid: payload.memberGuid,
      userGuid: payload.userGuid,
      runId: payload.runId,
      status: observation.connection_status,
      isBeingAggregated: observation.is_being_aggregated,
      successfullyAggregatedAt: millisOf(observation.successfully_aggregated_at)
    })
  })

/**
 * Counts the list rows MX sent that the client left out because they did not decode (its `onSkipped`),
 * for `record` to add to the run's `rowsSkipped`.
 *
 * @since 0.1.0
 * @category observations
 */
export const skippedRows = (runId: AggregationRuns.RunId) =>
  Effect.gen(function*() {
    const runs = yield* AggregationRuns.AggregationRuns
    const count = yield* Ref.make(0)
    return {
      onSkipped: () => Ref.update(count, (n) => n + 1),
      record: Effect.flatMap(Ref.get(count), (n) => n === 0 ? Effect.void : runs.addRowsSkipped(runId, n))
    }
  })
