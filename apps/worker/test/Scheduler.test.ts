/**
 * The scheduler loop: due members start while a discovery pass still runs (at thousands of users one
 * pass takes minutes), and discovery repeats every 60 passes, each followed by the recovery of
 * claimed runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { TestDatabase, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations, EngineConfig } from "@mx-aggregation/worker"
import * as Scheduler from "@mx-aggregation/worker/Scheduler"
import { Duration, Effect, Fiber, Layer, TestClock } from "effect"

const user = Member.UserGuid.make("USR-scheduler")
const member = Member.MemberGuid.make("MBR-due")

/** Aggregations whose discovery takes 10 minutes per call; the other operations are not used. */
const slowDiscovery = (calls: { discover: number; recover: number; started: Array<string> }) =>
  Layer.succeed(
    Aggregations.Aggregations,
    {
      discover: () =>
        Effect.sync(() => calls.discover++).pipe(Effect.zipRight(Effect.sleep("10 minutes")), Effect.as(0)),
      recover: Effect.sync(() => calls.recover++).pipe(Effect.as(0)),
      reapStale: Effect.succeed(0),
      start: (memberGuid: Member.MemberGuid) =>
        Effect.sync(() => {
          calls.started.push(memberGuid)
          return { _tag: "AlreadyRunning", runId: null } as const
        })
    } as unknown as Aggregations.Service
  )

describe("Scheduler.loop", () => {
  it.effect("due members start while discovery runs; discovery repeats every 60 passes", () =>
    Effect.gen(function*() {
      const tracked = yield* TrackedMembers.TrackedMembers
      yield* tracked.track({ memberGuid: member, userGuid: user, institutionCode: null, nextDueAt: 0 })
      const calls = { discover: 0, recover: 0, started: [] as Array<string> }
      const fiber = yield* Scheduler.loop([user]).pipe(
        Effect.provide(slowDiscovery(calls)),
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      assert.strictEqual(calls.discover, 1, "discovery started")
      assert.strictEqual(calls.recover, 1, "claimed runs recovered when the scheduler starts")
      assert.include(calls.started, member, "the due member started although discovery is still running")
      const passes = calls.started.length
      yield* TestClock.adjust("30 seconds")
      assert.isAbove(calls.started.length, passes, "passes go on every schedulerInterval")
      assert.strictEqual(calls.discover, 1)
      // Discovery ends after 10 minutes, and starts again 60 intervals (5 minutes) later.
      yield* TestClock.adjust(Duration.minutes(15))
      assert.strictEqual(calls.discover, 2)
      assert.strictEqual(calls.recover, 2, "and after each discovery pass")
      yield* Fiber.interrupt(fiber)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(TrackedMembers.layer, EngineConfig.layer({ schedulerInterval: Duration.seconds(5) })).pipe(
          Layer.provideMerge(TestDatabase.layer("sqlite"))
        )
      )
    ))
})
