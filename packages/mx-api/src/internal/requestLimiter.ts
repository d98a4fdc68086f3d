import { Clock, Duration, Effect, Queue } from "effect"

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
 * A limiter of request starts over a sliding window plus a cap on requests in flight.
 *
 * Effect's `RateLimiter` was not used: its fixed-window algorithm opens a window at the first call
 * and its token bucket starts full, so both admit up to twice the limit within one second straddling
 * a boundary. Keeping the start times of the last `limit` requests and waiting until the oldest is
 * one window old bounds every window, wherever it starts.
 *
 * The concurrency permit is taken before the rate slot, so a request's recorded start is the moment
 * it is sent, not the moment it queued.
 *
 * @internal
 */
export const make = (options: {
  readonly limit: number
  readonly window: Duration.DurationInput
  readonly maxConcurrency: number
}): Effect.Effect<RequestLimiter> =>
  Effect.gen(function*() {
    const limit = Math.max(1, Math.floor(options.limit))
    const windowMillis = Duration.toMillis(options.window)
    const concurrency = yield* permits(Math.max(1, Math.floor(options.maxConcurrency)))
    const mutex = yield* permits(1)
    // Start times of the most recent requests, oldest first; never more than `limit` of them.
    const starts: Array<number> = []

    const takeSlot = mutex(
      Effect.gen(function*() {
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
    )

    return <A, E, R>(effect: Effect.Effect<A, E, R>) => concurrency(Effect.zipRight(takeSlot, effect))
  })

/**
 * `n` permits as a queue of tokens: a release wakes exactly one waiter, in arrival order. (Effect's
 * Semaphore wakes every waiter on each release, which costs time quadratic in the queue: with
 * thousands of requests waiting for a permit the process spent most of its CPU there.)
 */
const permits = (n: number) =>
  Effect.map(Queue.bounded<void>(n), (tokens) => {
    tokens.unsafeOffer(undefined)
    for (let i = 1; i < n; i++) tokens.unsafeOffer(undefined)
    return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          restore(Queue.take(tokens)),
          restore(effect).pipe(Effect.ensuring(Queue.offer(tokens, undefined)))
        )
      )
  })
