/**
 * MX time: the worker's clock when MX runs faster than real time (the sandbox's time scale, for tests,
 * demos and benchmarks). A run's activities (`RunActivity.mxActivity`), every operation of
 * `Aggregations` (`service`, in its layer), the scheduler's loop and the control API's own writes run
 * on it, so that MX's timestamps, the policy's windows and the 3-second polling floor all mean MX
 * seconds. It is applied there, not as one layer over the worker: Effect's clock is a fiber's, and
 * the cluster's own fibers (its timers, the runners' connections, the HTTP servers) must stay on real
 * time; durable sleeps are converted with `EngineConfig.toReal`.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect } from "effect"

/**
 * A clock running `scale` times faster than real time from `anchor` (epoch ms, in MX time) on.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (scale: number, anchor: number = Date.now()): Clock.Clock => {
  const live = Clock.make()
  const realStart = live.unsafeCurrentTimeMillis()
  const now = () => Math.floor(anchor + (live.unsafeCurrentTimeMillis() - realStart) * scale)
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: now,
    currentTimeMillis: Effect.sync(now),
    unsafeCurrentTimeNanos: () => BigInt(now()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
    sleep: (duration) => live.sleep(Duration.millis(Duration.toMillis(duration) / scale))
  }
}

/**
 * A clock of MX time that equalled real time at `origin` (epoch ms) and has run `scale` times faster
 * since: the sandbox's own definition, so that processes given the same origin share one timeline.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromOrigin = (scale: number, origin: number): Clock.Clock => {
  const real = Date.now()
  return make(scale, origin + (real - origin) * scale)
}

/**
 * Runs an effect on MX time (a no-op at scale 1).
 *
 * @since 0.1.0
 * @category combinators
 */
export const within = (clock: Clock.Clock | undefined) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  clock === undefined ? effect : Effect.withClock(effect, clock)

/**
 * A service whose operations all run on MX time: each method's effect, and each field that is an
 * effect, runs within `clock` (the service unchanged at scale 1). Applied once where the service is
 * made, so that its callers (the control API, the webhook listener, the scheduler) need not.
 *
 * @since 0.1.0
 * @category combinators
 */
export const service = <S extends object>(clock: Clock.Clock | undefined, operations: S): S => {
  if (clock === undefined) return operations
  const onMxTime = within(clock)
  const wrap = (value: unknown): unknown =>
    Effect.isEffect(value)
      ? onMxTime(value)
      : typeof value === "function"
      ? (...args: Array<unknown>) => {
        const result = value(...args)
        return Effect.isEffect(result) ? onMxTime(result) : result
      }
      : value
  return Object.fromEntries(Object.entries(operations).map(([name, value]) => [name, wrap(value)])) as S
}
