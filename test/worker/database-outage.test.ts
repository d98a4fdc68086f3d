/**
 * A run's last step outlasts an outage of the worker's database. Only that step (`Finish`, through
 * `RunEnd.endRun`) releases the member: when its statements failed, the run's own failure handling
 * tried to end it as failed, failed the same way, and the workflow died, leaving the member claimed
 * until recovery noticed (the reliability suite saw it as a run stuck after PostgreSQL restarted).
 *
 * The outage is exact, not timed: the store's `AggregationRuns.finish` fails (as on a lost connection)
 * the first three times it is called, then the database is back.
 */
import { assert, describe, layer } from "@effect/vitest"
import { AggregationRuns, Store, StoreError, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations } from "@mx-aggregation/worker"
import { Effect, Layer, Option } from "effect"
import { ended, harness, newMember } from "./harness.js"

const failures = 3
let finishCalls = 0

/** `AggregationRuns.finish` fails its first `failures` calls with the store's error for a lost connection. */
const finishFailsAtFirst = Layer.effect(
  AggregationRuns.AggregationRuns,
  Effect.map(AggregationRuns.AggregationRuns, (runs) =>
    AggregationRuns.AggregationRuns.of({
      ...runs,
      finish: (input) =>
        Effect.suspend(() =>
          ++finishCalls <= failures
            ? Effect.fail(
              new StoreError.StoreError({
                reason: "QueryFailed",
                operation: "AggregationRuns.finish",
                message: "AggregationRuns.finish: Connection terminated unexpectedly"
              })
            )
            : runs.finish(input)
        )
    }))
).pipe(Layer.provideMerge(Store.layer))

describe("a database outage at the end of a run", () => {
  layer(harness({ store: finishFailsAtFirst }), { excludeTestServices: true })((it) => {
    it.effect(
      "the run waits for the database, ends with its real outcome, and releases its member",
      () =>
        Effect.gen(function*() {
          const aggregations = yield* Aggregations.Aggregations
          const tracked = yield* TrackedMembers.TrackedMembers
          const { memberGuid } = yield* newMember("password")
          const started = yield* aggregations.start(memberGuid, "Manual")
          assert.strictEqual(started._tag, "Started")
          const { run } = yield* ended(started.runId!)
          assert.strictEqual(run.outcome, "connected", run.failureReason ?? "")
          assert.strictEqual(finishCalls, failures + 1)
          const member = Option.getOrThrow(yield* tracked.get(memberGuid))
          assert.isNull(member.activeRunId, "the member is released")
        }),
      60_000
    )
  })
})
