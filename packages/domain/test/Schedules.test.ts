import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  Duration,
  Effect,
  FastCheck as fc,
  Fiber,
  type Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  TestClock
} from "effect"
import { Schedules } from "../src/index.js"

/** Runs `effect` repeatedly on `schedule` under TestClock, advancing one second at a time. */
const timesOf = <E>(
  drive: (tick: Effect.Effect<void, E>) => Effect.Effect<unknown, E>,
  totalSeconds: number
) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    const fiber = yield* Effect.fork(
      Effect.either(drive(Clock.currentTimeMillis.pipe(Effect.map((t) => void times.push(t)))))
    )
    for (let s = 0; s < totalSeconds; s++) yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
    return times
  })

/** The delays a schedule's driver would sleep, read from its decisions (the same intervals it waits for). */
const delaysOf = <Out>(schedule: Schedule.Schedule<Out>, count: number) =>
  Effect.gen(function*() {
    const delays: Array<number> = []
    let now = 0
    let state = schedule.initial
    while (delays.length < count) {
      const [next, , decision] = yield* schedule.step(now, undefined, state)
      if (ScheduleDecision.isDone(decision)) break
      const start = Math.max(now, ScheduleIntervals.start(decision.intervals))
      delays.push(start - now)
      now = start
      state = next
    }
    return delays
  })

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

describe("Schedules.statusPolling", () => {
  it.effect("polls 3 s after the previous poll, backs off to the cap, and stops at the deadline", () =>
    Effect.gen(function*() {
      const times = yield* timesOf(
        (poll) => Effect.repeat(poll, Schedules.statusPolling({ cap: "20 seconds", deadline: "2 minutes" })),
        200
      )
      const between = gaps(times)
      assert.strictEqual(between[0], 3000)
      assert.isTrue(between.every((g) => g >= 3000))
      assert.strictEqual(Math.max(...between), 20_000)
      assert.isTrue(between.every((g, i) => i === 0 || g >= between[i - 1]!), "delays never shrink")
      assert.isAtMost(times.at(-1)!, 120_000 + 20_000)
      assert.isAtLeast(times.at(-1)!, 100_000)
    }))

  it.effect.prop(
    "never polls sooner than 3 s, whatever the options",
    [
      fc.integer({ min: 0, max: 10_000 }),
      fc.double({ min: 0.1, max: 3, noNaN: true }),
      fc.integer({ min: 0, max: 60_000 })
    ],
    ([initial, factor, cap]) =>
      Effect.gen(function*() {
        const schedule = Schedules.statusPolling({
          initial: Duration.millis(initial),
          factor,
          cap: Duration.millis(cap),
          deadline: "1 hour"
        })
        const delays = yield* delaysOf(schedule, 40)
        assert.strictEqual(delays.length, 40)
        assert.isTrue(delays.every((d) => d >= 3000), `delays ${delays}`)
      })
  )
})

describe("Schedules.mxRetry", () => {
  it.effect("retries exponentially with jitter, capped, and gives up after the bound", () =>
    Effect.gen(function*() {
      const times = yield* timesOf(
        (attempt) =>
          Effect.retry(
            Effect.zipRight(attempt, Effect.fail("503")),
            Schedules.mxRetry({ base: "1 second", cap: "10 seconds", times: 5 })
          ),
        120
      )
      assert.strictEqual(times.length, 6, "one call and five retries")
      const between = gaps(times)
      // base 1 s doubling: 1, 2, 4, 8, 16 s, each ±20 % jitter, then capped at 10 s
      const expected = [1000, 2000, 4000, 8000, 16000]
      between.forEach((gap, i) => {
        assert.isAtLeast(gap, Math.min(expected[i]! * 0.8, 10_000) - 1000)
        assert.isAtMost(gap, Math.min(expected[i]! * 1.2, 10_000) + 1000)
      })
      assert.strictEqual(between[4], 10_000)
    }))
  it.effect("without jitter, the delays double exactly from the base (the sandbox's webhook deliveries)", () =>
    Effect.gen(function*() {
      const times = yield* timesOf(
        (attempt) =>
          Effect.retry(
            Effect.zipRight(attempt, Effect.fail("503")),
            Schedules.mxRetry({ base: "1 second", cap: Duration.infinity, times: 4, jittered: false })
          ),
        120
      )
      assert.deepStrictEqual(gaps(times), [1000, 2000, 4000, 8000])
    }))
})
