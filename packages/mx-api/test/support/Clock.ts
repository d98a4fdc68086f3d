/** Drives TestClock for a forked fiber until it ends. */
import { Duration, Effect, Fiber, Option, TestClock } from "effect"

/**
 * Runs `effect` in a fiber, advances TestClock by `maxTime` (TestClock wakes every sleep in order,
 * letting the fiber schedule its next one), and returns the fiber's exit. A fiber still running after
 * `maxTime` is a defect of the test.
 */
export const runWithClock = <A, E>(
  effect: Effect.Effect<A, E>,
  options: { readonly maxTime?: Duration.DurationInput } = {}
) =>
  Effect.gen(function*() {
    const maxTime = options.maxTime ?? "10 minutes"
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(maxTime)
    const done = yield* Fiber.poll(fiber)
    if (Option.isSome(done)) return done.value
    yield* Fiber.interrupt(fiber)
    return yield* Effect.dieMessage(`still running after ${Duration.format(maxTime)}`)
  })
