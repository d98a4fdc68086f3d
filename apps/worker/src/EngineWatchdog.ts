/**
 * Redelivers a run's workflow that the engine woke up but never delivered.
 *
 * @effect/cluster (0.60, the latest of the Effect 3 line) can lose a wake-up: when a durable clock or a
 * deferred (an MFA answer) resumes a suspended workflow, the engine clears the run request's reply and
 * marks it unprocessed; a storage read already under way claims it (`last_read` = now) and then skips
 * it, because the request's id is still in the entity manager's set of just-processed requests
 * (Effect-TS/effect#8312). Nothing reads a claimed message again for ten minutes, so the run stalls
 * with its member claimed, though nothing is wrong with it.
 *
 * The watchdog finds that state and unclaims the request (`last_read` back to NULL), so the engine's
 * next read delivers it and the workflow replays from its journal: a run request that is unprocessed,
 * has no reply, was claimed more than `after` ago, and whose workflow has no message in flight (no
 * unprocessed activity, deferred or due clock). A request that is in fact being processed is only read
 * again and skipped (the engine ignores a copy of a request it is handling).
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { StoreError } from "@mx-aggregation/store"
import { Clock, Duration, Effect, Schedule } from "effect"
import { AggregationWorkflow } from "./AggregationWorkflow.js"
import * as EngineEntities from "./EngineEntities.js"

const workflowEntityType = EngineEntities.workflowEntityType(AggregationWorkflow)
const clockEntityType = EngineEntities.durableClockEntityType

/**
 * Unclaims the run requests that the engine claimed more than `after` ago and left undelivered; the
 * number of runs redelivered.
 *
 * @since 0.1.0
 * @category operations
 */
export const redeliverSkippedRuns = (after: Duration.DurationInput) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    const seconds = Math.max(1, Math.round(Duration.toSeconds(Duration.decode(after))))
    const claimedBefore = sql.onDialectOrElse({
      pg: () => sql`NOW() - make_interval(secs => ${seconds})`,
      orElse: () => sql`DATETIME('now', ${`-${seconds} seconds`})`
    })
    const unprocessed = sql.onDialectOrElse({ pg: () => sql.literal("FALSE"), orElse: () => sql.literal("0") })
    const rows = yield* sql<{ readonly id: string | number }>`
      UPDATE cluster_messages SET last_read = NULL
      WHERE id IN (
        SELECT m.id FROM cluster_messages m
        WHERE m.entity_type = ${workflowEntityType}
          AND m.tag = 'run'
          AND m.processed = ${unprocessed}
          AND m.last_read IS NOT NULL
          AND m.last_read < ${claimedBefore}
          AND NOT EXISTS (SELECT 1 FROM cluster_replies r WHERE r.request_id = m.request_id)
          AND NOT EXISTS (
            SELECT 1 FROM cluster_messages o
            WHERE o.entity_id = m.entity_id
              AND o.id <> m.id
              AND o.entity_type IN (${workflowEntityType}, ${clockEntityType})
              AND o.processed = ${unprocessed}
              AND (o.deliver_at IS NULL OR o.deliver_at <= ${now})
          )
      )
      RETURNING id`
    return rows.length
  }).pipe(
    Effect.mapError((cause) =>
      new StoreError.StoreError({
        reason: "QueryFailed",
        operation: "EngineWatchdog.redeliverSkippedRuns",
        message: `EngineWatchdog.redeliverSkippedRuns: ${cause.message}`,
        cause
      })
    )
  )

/**
 * Looks for skipped run requests every `every` (real time), and redelivers those claimed more than
 * `after` ago; logs each redelivery. Failures (the database away) are logged and the loop goes on.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const loop = (options: {
  readonly every: Duration.DurationInput
  readonly after: Duration.DurationInput
}) =>
  redeliverSkippedRuns(options.after).pipe(
    Effect.tap((n) =>
      n > 0 ? Effect.logWarning(`redelivered ${n} run(s) whose wake-up the workflow engine skipped`) : Effect.void
    ),
    Effect.catchAll((error) => Effect.logWarning("looking for skipped wake-ups failed", error)),
    Effect.repeat(Schedule.spaced(options.every)),
    Effect.asVoid
  )
