import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Layer, Redacted, Stream } from "effect"
import * as MxClient from "../src/MxClient.js"
import { runWithClock } from "./support/Clock.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

/** The most requests that arrived within any one-second window [t, t + 1 s). */
const busiestSecond = (fake: Fake.FakeMx): number => {
  const times = fake.requests.map((r) => r.at).sort((a, b) => a - b)
  // The busiest window can always be taken to start at a request.
  return Math.max(0, ...times.map((start) => times.filter((t) => t >= start && t < start + 1000).length))
}

/** A fake MX answering every request after `delay`, with a body fitting any of the operations used here. */
const slowMx = (delay: Duration.DurationInput) =>
  Fake.make((request) =>
    request.url.pathname.endsWith("/accounts")
      ? { status: 200, body: Fake.pageBody("accounts", [{ guid: "ACT-1" }], 1, 1), delay }
      : { status: 200, body: Fake.memberBody({ challenges: [] }), delay }
  )

describe("MxClient rate limit and concurrency cap", () => {
  it.effect(
    "a burst of 40 concurrent calls: at most 5 in any one-second window, at most 3 in flight",
    () =>
      Effect.gen(function*() {
        const fake = slowMx("400 millis")
        const mx = yield* Fake.client(fake, { requestsPerSecond: 5, maxConcurrency: 3 })
        const calls = Array.from({ length: 40 }, (_, i) =>
          i % 3 === 0
            ? mx.readMemberStatus({ userGuid, memberGuid })
            : i % 3 === 1
            ? mx.readMember({ userGuid, memberGuid })
            : Stream.runDrain(mx.listMemberAccounts({ userGuid, memberGuid })))
        const exit = yield* runWithClock(Effect.all(calls, { concurrency: "unbounded" }))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(fake.requests.length, 40)
        assert.isAtMost(busiestSecond(fake), 5)
        assert.strictEqual(busiestSecond(fake), 5, "the limiter lets the full rate through")
        assert.isAtMost(fake.maxInFlight(), 3)
        // 40 requests at 5 per second need at least 7 s after the first second.
        const span = fake.requests.at(-1)!.at - fake.requests[0]!.at
        assert.isAtLeast(span, 7000)
        assert.isAtMost(span, 9000)
      }),
    // About 3 s of wall clock alone, more on a loaded machine: the default 5 s is too tight.
    { timeout: 30_000 }
  )

  it.effect("slow answers: the concurrency cap binds before the rate", () =>
    Effect.gen(function*() {
      const fake = slowMx("2 seconds")
      const mx = yield* Fake.client(fake, { requestsPerSecond: 100, maxConcurrency: 2 })
      const exit = yield* runWithClock(
        Effect.all(Array.from({ length: 10 }, () => mx.readMember({ userGuid, memberGuid })), {
          concurrency: "unbounded"
        })
      )
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.maxInFlight(), 2)
      // Two at a time, 2 s each: the tenth starts 8 s after the first.
      assert.strictEqual(fake.requests.at(-1)!.at - fake.requests[0]!.at, 8000)
    }))

  it.effect("the limits are shared by every caller of one layer, across fibers", () =>
    Effect.gen(function*() {
      const fake = slowMx("100 millis")
      const layer = MxClient.layer({
        baseUrl: "https://mx.test",
        clientId: Fake.clientId,
        apiKey: Redacted.make(Fake.apiKey),
        requestsPerSecond: 4,
        maxConcurrency: 10
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
      const worker = (n: number) =>
        Effect.flatMap(MxClient.MxClient, (mx) =>
          Effect.all(
            Array.from({ length: n }, () => mx.readMemberStatus({ userGuid, memberGuid })),
            {
              concurrency: "unbounded"
            }
          ))
      const program = Effect.all([worker(10), worker(10), worker(10)], { concurrency: "unbounded" }).pipe(
        Effect.provide(layer)
      )
      const exit = yield* runWithClock(program)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.requests.length, 30)
      assert.strictEqual(busiestSecond(fake), 4)
    }))

  it.effect("retries go through the limiter too", () =>
    Effect.gen(function*() {
      const fake = Fake.make((_, i) => i < 12 ? { status: 503 } : { status: 200, body: Fake.memberBody() })
      const mx = yield* Fake.client(fake, { requestsPerSecond: 2, maxConcurrency: 10 })
      const exit = yield* runWithClock(
        Effect.all(Array.from({ length: 6 }, () => mx.readMember({ userGuid, memberGuid })), {
          concurrency: "unbounded"
        })
      )
      assert.isTrue(Exit.isSuccess(exit))
      assert.isAtMost(busiestSecond(fake), 2)
    }))

  it.effect("urgent calls go ahead of the calls waiting for the cap and the rate", () =>
    Effect.gen(function*() {
      const fake = slowMx("1 second")
      const mx = yield* Fake.client(fake, { requestsPerSecond: 2, maxConcurrency: 1 })
      const routine = Array.from({ length: 6 }, () => mx.readMember({ userGuid, memberGuid }))
      // The routine calls queue first; the urgent one comes after them.
      const answer = Effect.zipRight(
        Effect.sleep("10 millis"),
        MxClient.urgent(mx.readMemberStatus({ userGuid, memberGuid }))
      )
      const exit = yield* runWithClock(Effect.all([...routine, answer], { concurrency: "unbounded" }))
      assert.isTrue(Exit.isSuccess(exit))
      const paths = fake.requests.map((r) => r.url.pathname.endsWith("/status") ? "urgent" : "routine")
      // The first routine call was already in flight; the urgent one is next.
      assert.deepStrictEqual(paths.slice(0, 3), ["routine", "urgent", "routine"])
      assert.strictEqual(fake.requests.length, 7)
      assert.isAtMost(fake.maxInFlight(), 1)
    }))

  it.effect("calls given up while they wait (timed out, interrupted) leave no permit behind", () =>
    Effect.gen(function*() {
      const fake = slowMx("1 second")
      const mx = yield* Fake.client(fake, { requestsPerSecond: 100, maxConcurrency: 1 })
      const first = mx.readMember({ userGuid, memberGuid })
      const status = mx.readMemberStatus({ userGuid, memberGuid })
      const givenUp = [status, MxClient.urgent(status), status].map((call) =>
        call.pipe(Effect.timeout("100 millis"), Effect.option)
      )
      const last = Effect.zipRight(Effect.sleep("200 millis"), mx.readMember({ userGuid, memberGuid }))
      const exit = yield* runWithClock(Effect.all([first, ...givenUp, last], { concurrency: "unbounded" }))
      assert.isTrue(Exit.isSuccess(exit))
      // The first call and the last one reached MX; the last one right after the first ended.
      assert.strictEqual(fake.requests.length, 2)
      assert.strictEqual(fake.requests[1]!.at - fake.requests[0]!.at, 1000)
    }))
})
