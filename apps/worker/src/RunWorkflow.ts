/**
 * The aggregation workflow's definition: what starts a run (`RunPayload`), how it ends (`RunResult`),
 * and its identity in the durable engine (the run id is the idempotency key). The steps are in
 * `AggregationWorkflow`; this module is what the protocols that address a run (MFA answers, wake-ups,
 * recovery, erasure) need to find it.
 *
 * @since 0.1.0
 */
import { Workflow } from "@effect/workflow"
import { AggregationPolicy, ConnectionStatus, Member, RunOutcome } from "@mx-aggregation/domain"
import { MxApiError } from "@mx-aggregation/mx-api"
import { AggregationRuns, StoreError } from "@mx-aggregation/store"
import { type Effect, Schema } from "effect"

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
  outcome: RunOutcome.RunOutcome,
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
