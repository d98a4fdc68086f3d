/**
 * The workflow engine's own entities, by the names @effect/cluster's `ClusterWorkflowEngine` gives
 * them: a workflow's messages (its run, activities, signals) are addressed to `Workflow/<name>`, its
 * durable sleeps to `Workflow/-/DurableClock`, both keyed by the execution id in the workflow's shard
 * group. The engine exports neither entity (its typings export only `make` and `layer`), so the names
 * are written here once, for the two operations that reach into its message storage: delivering a
 * stalled run's messages again (recovery) and clearing a run's journal (erasure).
 *
 * @since 0.1.0
 */
import { ClusterSchema, EntityAddress, EntityId, EntityType, Sharding } from "@effect/cluster"
import type { Workflow } from "@effect/workflow"
import { Context, Effect } from "effect"
import { AggregationWorkflow } from "./RunWorkflow.js"

/**
 * The entity type of a workflow's messages.
 *
 * @since 0.1.0
 * @category names
 */
export const workflowEntityType = (workflow: Workflow.Any): string => `Workflow/${workflow.name}`

/**
 * The entity type of every workflow's durable sleeps (`DurableClock`).
 *
 * @since 0.1.0
 * @category names
 */
export const durableClockEntityType = "Workflow/-/DurableClock"

/**
 * The entity types that keep a run's journal: its workflow and the workflow's durable clock.
 *
 * @since 0.1.0
 * @category names
 */
export const journalEntityTypes: ReadonlyArray<string> = [
  workflowEntityType(AggregationWorkflow),
  durableClockEntityType
]

/**
 * The addresses of a run's journal in the message storage, from its execution id.
 *
 * @since 0.1.0
 * @category addresses
 */
export const journalAddresses = (
  executionId: string
): Effect.Effect<ReadonlyArray<EntityAddress.EntityAddress>, never, Sharding.Sharding> =>
  Effect.map(Sharding.Sharding, (sharding) => {
    const entityId = EntityId.make(executionId)
    const shardId = sharding.getShardId(
      entityId,
      Context.get(AggregationWorkflow.annotations, ClusterSchema.ShardGroup)(entityId)
    )
    return journalEntityTypes.map((entityType) =>
      new EntityAddress.EntityAddress({ entityType: EntityType.EntityType.make(entityType), entityId, shardId })
    )
  })
