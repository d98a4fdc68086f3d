/**
 * Why the benchmark caps runs in flight: `N` fibers each make one 1 ms "request" through a cap of 10
 * permits, first with Effect's `Semaphore.withPermits` (as the MX client's limiter does), then with a
 * queue of 10 tokens. Effect 3's Semaphore resumes every waiter on each release (they re-queue when
 * they lose the race), so its cost grows with the square of the waiters.
 *
 *   node_modules/.bin/tsx bench/semaphore.ts [250 500 1000 2000]
 *
 * @since 0.1.0
 */
import { Effect, Queue } from "effect"

const sizes = process.argv.slice(2).map(Number)
const counts = sizes.length > 0 && sizes.every((n) => Number.isInteger(n) && n > 0) ? sizes : [250, 500, 1000, 2000]

const measure = (
  label: string,
  n: number,
  limit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    const start = Date.now()
    yield* Effect.forEach(Array.from({ length: n }), () => limit(Effect.sleep("1 millis")), {
      concurrency: "unbounded",
      discard: true
    })
    const used = process.cpuUsage(cpu)
    console.log(
      `${label.padEnd(18)} ${String(n).padStart(6)}  ${String(Date.now() - start).padStart(8)}  ${
        ((used.user + used.system) / 1000).toFixed(0).padStart(8)
      }  ${(process.memoryUsage.rss() / 1024 / 1024).toFixed(0).padStart(7)}`
    )
  })

const main = Effect.gen(function*() {
  console.log(
    `${"limiter".padEnd(18)} ${"fibers".padStart(6)}  ${"real ms".padStart(8)}  ${"CPU ms".padStart(8)}  ${
      "RSS MB".padStart(7)
    }`
  )
  for (const n of counts) {
    const tokens = yield* Queue.bounded<void>(10)
    yield* Queue.offerAll(tokens, Array.from({ length: 10 }, () => undefined))
    yield* measure(
      "queue of tokens",
      n,
      (effect) => Effect.acquireUseRelease(Queue.take(tokens), () => effect, () => Queue.offer(tokens, undefined))
    )
    const semaphore = yield* Effect.makeSemaphore(10)
    yield* measure("Effect Semaphore", n, semaphore.withPermits(1))
  }
})

Effect.runPromise(main)
