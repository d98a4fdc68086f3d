/**
 * The sandbox's MX time: from an anchor, MX time runs `scale` times faster than the clock it is read
 * on (`timeAt`). The sandbox reads it on the Effect `Clock` (so tests drive it with `TestClock`);
 * `make` gives the same timeline as a live `Clock`, for a process that drives a time-scaled sandbox
 * from outside (a benchmark, a test driver) and must agree with its timestamps.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect } from "effect"

/**
 * A timeline of MX time: MX time `anchor` at real time `realStart` (both epoch ms), running `scale`
 * times faster since.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeline {
  readonly scale: number
  readonly anchor: number
  readonly realStart: number
}

/**
 * MX time (epoch ms, whole) on `timeline` at real time `realMillis`.
 *
 * @since 0.1.0
 * @category time
 */
export const timeAt = (timeline: Timeline, realMillis: number): number =>
  Math.floor(timeline.anchor + (realMillis - timeline.realStart) * timeline.scale)

/**
 * A live `Clock` of MX time running `scale` times faster than real time from `anchor` (epoch ms, MX
 * time) on; its sleeps last `1 / scale` of the duration in real time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (scale: number, anchor: number = Date.now()): Clock.Clock => {
  const live = Clock.make()
  const timeline: Timeline = { scale, anchor, realStart: live.unsafeCurrentTimeMillis() }
  const now = () => timeAt(timeline, live.unsafeCurrentTimeMillis())
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: now,
    currentTimeMillis: Effect.sync(now),
    unsafeCurrentTimeNanos: () => BigInt(now()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
    sleep: (duration) => live.sleep(Duration.millis(Duration.toMillis(duration) / scale))
  }
}
