/**
 * A run ends once. Recovery (after a restart, and after every discovery pass) reads each claimed run
 * and ends those whose workflow died; it decides from a reading that may be stale by the time it acts.
 * Here the worker is held at the exact point of that interleaving: recovery has read the run as
 * unfinished, then the run's workflow finishes the run (a DENIED member: credentials required), then
 * recovery finds the workflow complete. The late ending must change nothing: the member still waits
 * for new credentials, the partner is told once, and no second run starts.
 *
 * This is how a DENIED member got two runs after a worker was killed (crash-recovery) and two
 * credential-update aggregations in the reliability trials: recovery's ending made the member due at
 * once, a new run found it DENIED again and asked the user for credentials a second time.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Member } from "@mx-aggregation/domain"
import { AggregationRuns, Outbox, Store, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations, AggregationWorkflow } from "@mx-aggregation/worker"
import { Deferred, Effect, Fiber, Layer, Option } from "effect"
import { ended, eventually, harness, newMember } from "./harness.js"

/**
 * The store, with `AggregationRuns.get` able to hold its caller: once armed for a run, the first read
 * of that run while it is unfinished signals `held` and returns only when `proceed` is done.
 */
const makeGate = Effect.gen(function*() {
  const held = yield* Deferred.make<void>()
  const proceed = yield* Deferred.make<void>()
  let armedFor: AggregationRuns.RunId | null = null
  const store = Layer.effect(
    AggregationRuns.AggregationRuns,
    Effect.map(AggregationRuns.AggregationRuns, (runs) =>
      AggregationRuns.AggregationRuns.of({
        ...runs,
        get: (runId) =>
          Effect.tap(runs.get(runId), (run) => {
            if (armedFor !== runId || Option.isNone(run) || run.value.run.endedAt !== null) return Effect.void
            armedFor = null
            return Effect.zipRight(Deferred.succeed(held, void 0), Deferred.await(proceed))
          })
      }))
  ).pipe(Layer.provideMerge(Store.layer))
  return {
    store,
    arm: (runId: AggregationRuns.RunId) => Effect.sync(() => (armedFor = runId)),
    held: Deferred.await(held),
    proceed: Deferred.succeed(proceed, void 0)
  }
})

describe("a run ends once", () => {
  it.live(
    "recovery that meets a run finishing leaves its outcome, its member and its event alone",
    () =>
      Effect.gen(function*() {
        const gate = yield* makeGate
        return yield* Effect.gen(function*() {
          const aggregations = yield* Aggregations.Aggregations
          const tracked = yield* TrackedMembers.TrackedMembers
          const runs = yield* AggregationRuns.AggregationRuns
          const outbox = yield* Outbox.Outbox
          const { memberGuid } = yield* newMember("UNAUTHORIZED")
          const started = yield* aggregations.start(memberGuid, "Scheduled")
          assert.strictEqual(started._tag, "Started")
          const runId = started.runId!

          // The run has called aggregate: its workflow reads the run again only once it has ended it.
          yield* eventually(
            "the run called aggregate",
            Effect.map(tracked.get(memberGuid), Option.filter((m) => m.lastAggregateCalledAt !== null))
          )
          yield* gate.arm(runId)
          const recovery = yield* Effect.fork(aggregations.recover)
          yield* gate.held // recovery has read the run as unfinished

          const first = yield* ended(runId)
          assert.strictEqual(first.run.outcome, "credentials_required")
          const executionId = yield* AggregationWorkflow.executionIdOf(runId)
          yield* eventually(
            "the run's workflow is complete",
            Effect.map(
              AggregationWorkflow.AggregationWorkflow.poll(executionId),
              (result) => Option.fromNullable(result?._tag === "Complete" ? result : undefined)
            )
          )
          const before = Option.getOrThrow(yield* tracked.get(memberGuid))
          yield* gate.proceed
          yield* Fiber.join(recovery)

          // The run keeps its outcome and the member what the run recorded: it waits for new credentials.
          const after = Option.getOrThrow(yield* tracked.get(memberGuid))
          assert.strictEqual(after.activeRunId, null)
          assert.strictEqual(after.nextAction, "UpdateCredentials")
          assert.strictEqual(after.needsUserReason, "credentials")
          assert.strictEqual(after.nextDueAt, before.nextDueAt)
          assert.strictEqual(after.consecutiveFailures, before.consecutiveFailures)
          assert.strictEqual(Option.getOrThrow(yield* runs.get(runId)).run.outcome, "credentials_required")
          // The partner was asked for credentials once.
          const events = yield* outbox.listRecent({ memberGuid, type: "credentials_required" })
          assert.strictEqual(events.length, 1)
          // And the scheduler finds nothing to do for the member, now or later: one run in all.
          const due = yield* tracked.listDue(Number.MAX_SAFE_INTEGER, 1_000)
          assert.isFalse(due.some((m) => m.memberGuid === memberGuid), "the member is not due again")
          const all = yield* runs.listByMember(memberGuid as Member.MemberGuid)
          assert.deepStrictEqual(all.map((r) => r.outcome), ["credentials_required"])
        }).pipe(Effect.provide(harness({ store: gate.store })))
      }),
    60_000
  )
})
