/**
 * Wake-ups across replicas: an MX webhook may reach any replica, while the member's run polls on the
 * replica that holds its workflow's shard. A wake-up is a message to a cluster entity whose id is the
 * run's execution id, in the workflow's shard group: the engine routes it to the very runner that runs
 * the workflow (the same id in the same group is the same shard), where it wakes the polling run
 * through the in-process `Wakeups`. Like the webhook it carries, it is a hint, not persisted: a lost
 * wake-up costs a poll on the slow schedule, never correctness.
 *
 * @since 0.1.0
 */
import { Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import type { Member } from "@mx-aggregation/domain"
import type { AggregationRuns } from "@mx-aggregation/store"
import { Effect, Schema } from "effect"
import { AggregationWorkflow, executionIdOf } from "./RunWorkflow.js"
import { Wakeups } from "./Wakeups.js"

/**
 * The entity: one per run, on the runner of the run's workflow. `Wake` answers whether a poll of the
 * member was waiting there.
 *
 * @since 0.1.0
 * @category entities
 */
export const RunWakeup = Entity.make("RunWakeup", [
  Rpc.make("Wake", { payload: { memberGuid: Schema.String }, success: Schema.Boolean })
]).annotateContext(AggregationWorkflow.annotations)

/**
 * Hands wake-ups that reach this runner to its polling runs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = RunWakeup.toLayer(
  Effect.map(Wakeups, (wakeups) => RunWakeup.of({ Wake: ({ payload }) => wakeups.wake(payload.memberGuid) })),
  { maxIdleTime: "30 seconds" }
)

/**
 * A function that wakes a run's polling, wherever the run is: `true` when a poll was waiting. A runner
 * that cannot be reached within `timeout` counts as no poll waiting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWaker = Effect.map(
  RunWakeup.client,
  (client) => (runId: AggregationRuns.RunId, memberGuid: Member.MemberGuid): Effect.Effect<boolean> =>
    Effect.flatMap(executionIdOf(runId), (executionId) => client(executionId).Wake({ memberGuid })).pipe(
      Effect.timeout("5 seconds"),
      Effect.catchAllCause((cause) =>
        Effect.as(Effect.logDebug("a wake-up did not reach the run", cause).pipe(Effect.annotateLogs({ runId })), false)
      )
    )
)
