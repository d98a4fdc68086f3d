/**
 * In-process wake-ups for polling runs: an MX webhook saying a member's status changed lets that
 * member's poll happen now instead of at the next scheduled poll (still never sooner than 3 s after the
 * previous poll). A webhook that reaches another replica gets here through the cluster (`RunWakeups`). Webhooks are hints: the run always reads the status from MX itself, so a duplicated,
 * reordered or forged webhook can at most cause one early read.
 *
 * @since 0.1.0
 */
import { Context, Deferred, Effect, FiberId, Layer } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Wakes the member's polling run, if one is waiting in this process. Returns whether one was. */
  readonly wake: (memberGuid: string) => Effect.Effect<boolean>
  /** Completes when the member is woken. */
  readonly awaitWake: (memberGuid: string) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Wakeups extends Context.Tag("@mx-aggregation/worker/Wakeups")<Wakeups, Service>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  const waiting = new Map<string, Deferred.Deferred<void>>()
  const awaitWake = (memberGuid: string) =>
    Effect.suspend(() => {
      let deferred = waiting.get(memberGuid)
      if (deferred === undefined) {
        deferred = Deferred.unsafeMake<void>(FiberId.none)
        waiting.set(memberGuid, deferred)
      }
      return Deferred.await(deferred)
    })
  const wake = (memberGuid: string) =>
    Effect.suspend(() => {
      const deferred = waiting.get(memberGuid)
      if (deferred === undefined) return Effect.succeed(false)
      waiting.delete(memberGuid)
      return Effect.as(Deferred.succeed(deferred, void 0), true)
    })
  return { wake, awaitWake }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Wakeups> = Layer.effect(Wakeups, make)
