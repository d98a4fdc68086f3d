import { Clock, Deferred, Duration, Effect, FiberRef } from "effect"

/**
 * Wraps an effect so that it starts only when both limits allow it, and holds a concurrency permit
 * while it runs.
 *
 * @internal
 */
export interface RequestLimiter {
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
}

/**
 * Whether the requests made by the current fiber go ahead of the others waiting in the limiter (a user
 * waits on them, with a deadline: MFA answers). Set with `MxClient.urgent`.
 *
 * @internal
 */
export const currentUrgent: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)

/**
 * A limiter of request starts over a sliding window plus a cap on requests in flight.
 *
 * Effect's `RateLimiter` was not used: its fixed-window algorithm opens a window at the first call
 * and its token bucket starts full, so both admit up to twice the limit within one second straddling
 * a boundary. Keeping the start times of the last `limit` requests and waiting until the oldest is
 * one window old bounds every window, wherever it starts.
 *
 * The concurrency permit is taken before the rate slot, so a request's recorded start is the moment
 * it is sent, not the moment it queued. Urgent requests (`currentUrgent`) take both ahead of the
 * others waiting.
 *
 * @internal
 */
export const make = (options: {
  readonly limit: number
  readonly window: Duration.DurationInput
  readonly maxConcurrency: number
}): Effect.Effect<RequestLimiter> =>
  Effect.sync(() => {
    const limit = Math.max(1, Math.floor(options.limit))
    const windowMillis = Duration.toMillis(options.window)
    const concurrency = permits(Math.max(1, Math.floor(options.maxConcurrency)))
    const mutex = permits(1)
    // Start times of the most recent requests, oldest first; never more than `limit` of them.
    const starts: Array<number> = []

    const takeSlot = Effect.gen(function*() {
      let now = yield* Clock.currentTimeMillis
      if (starts.length >= limit) {
        const wait = starts[0]! + windowMillis - now
        if (wait > 0) {
          yield* Effect.sleep(Duration.millis(wait))
          now = yield* Clock.currentTimeMillis
        }
        starts.shift()
      }
      starts.push(now)
    })

    return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(FiberRef.get(currentUrgent), (urgent) =>
        concurrency(urgent, Effect.zipRight(mutex(urgent, takeSlot), effect)))
  })

/**
 * `n` permits, handed over on release to exactly one waiter: the longest-waiting urgent one, else the
 * longest-waiting other. (Effect's Semaphore wakes every waiter on each release, which costs time
 * quadratic in the queue: with thousands of requests waiting for a permit the process spent most of
 * its CPU there; and it has no priority.)
 */
const permits = (n: number) => {
  let free = n
  const waiting = { urgent: new Set<Deferred.Deferred<void>>(), other: new Set<Deferred.Deferred<void>>() }
  const next = (lane: Set<Deferred.Deferred<void>>) => {
    const first = lane.values().next()
    if (first.done === true) return undefined
    lane.delete(first.value)
    return first.value
  }
  // Invariant: a permit is free only while nobody waits (a release hands it straight to a waiter).
  const release = Effect.sync(() => {
    const waiter = next(waiting.urgent) ?? next(waiting.other)
    if (waiter === undefined) free++
    else Deferred.unsafeDone(waiter, Effect.void)
  })
  const take = (urgent: boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (free > 0) {
        free--
        return Effect.void
      }
      const lane = urgent ? waiting.urgent : waiting.other
      return Effect.flatMap(Deferred.make<void>(), (handed) => {
        lane.add(handed)
        return Deferred.await(handed).pipe(
          // Interrupted while waiting: leave the line, or pass on the permit handed over meanwhile.
          Effect.onInterrupt(() => lane.delete(handed) ? Effect.void : release)
        )
      })
    })
  return <A, E, R>(urgent: boolean, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(restore(take(urgent)), restore(effect).pipe(Effect.ensuring(release)))
    )
}
