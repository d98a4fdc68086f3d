/**
 * The metrics of MX calls, recorded by the client where it makes each call, under the operation it
 * names: every attempt by operation and status, 429s, retries and latency; no answer is `error`, an
 * attempt the client stopped waiting for is `interrupted`.
 *
 * Effect's metric registry is global to the process: tests compare values before and after.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Metric, Schedule, Stream } from "effect"
import * as CallMetrics from "../src/CallMetrics.js"
import { runWithClock } from "./support/Clock.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake
const ref = { userGuid, memberGuid }

const requests = (operation: string, status: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(CallMetrics.requests, "operation", operation), "status", status)),
    (state) => state.count
  )
const counted = (metric: typeof CallMetrics.retries, operation: string) =>
  Effect.map(Metric.value(Metric.tagged(metric, "operation", operation)), (state) => state.count)
const timed = (operation: string) =>
  Effect.map(Metric.value(Metric.tagged(CallMetrics.requestDuration, "operation", operation)), (state) => state.count)

const differences = <A extends Record<string, number>>(before: A, after: A) =>
  Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - before[key]!]))

describe("MX call metrics", () => {
  it.effect("every attempt by operation and status, 429s, retries and latency", () =>
    Effect.gen(function*() {
      const replies: Array<Fake.Reply> = [
        { status: 429, body: { error: "slow down" }, headers: { "retry-after": "0" } },
        { status: 503, body: { error: "busy" } },
        { status: 200, body: Fake.memberBody() },
        { status: 200, body: Fake.memberBody({ connection_status: "CHALLENGED" }) }
      ]
      const fake = Fake.make((_, index) => replies[index] ?? { status: 500 })
      const read = Effect.all({
        r429: requests("readMember", "429"),
        r503: requests("readMember", "503"),
        r200: requests("readMember", "200"),
        limited: counted(CallMetrics.rateLimited, "readMember"),
        retries: counted(CallMetrics.retries, "readMember"),
        timed: timed("readMember"),
        // Another operation's series is not touched.
        others: requests("readMemberStatus", "200")
      })
      const before = yield* read
      const mx = yield* Fake.client(fake, { retrySchedule: Schedule.recurs(3) })
      yield* runWithClock(mx.readMember(ref))
      yield* runWithClock(mx.readMember(ref))
      assert.strictEqual(fake.requests.length, 4)
      assert.deepStrictEqual(differences(before, yield* read), {
        r429: 1,
        r503: 1,
        r200: 2,
        limited: 1,
        // The first call took three attempts (two retries), the second one.
        retries: 2,
        timed: 4,
        others: 0
      })
    }))

  it.effect("a request with no answer counts as status `error`, each attempt", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ transport: "connection refused" }))
      const before = yield* Effect.all([requests("listMembers", "error"), counted(CallMetrics.retries, "listMembers")])
      const mx = yield* Fake.client(fake, { retrySchedule: Schedule.recurs(3) })
      const exit = yield* runWithClock(Stream.runDrain(mx.listMembers({ userGuid })))
      assert.isTrue(Exit.isFailure(exit))
      const after = yield* Effect.all([requests("listMembers", "error"), counted(CallMetrics.retries, "listMembers")])
      assert.deepStrictEqual(
        [after[0] - before[0], after[1] - before[1]],
        [4, 3],
        "the first attempt and three retries"
      )
    }))

  it.effect("attempts the client stops waiting for count as `interrupted`, and are retried", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody(), delay: "1 minute" }))
      const before = yield* Effect.all([
        requests("readMemberStatus", "interrupted"),
        counted(CallMetrics.retries, "readMemberStatus")
      ])
      const mx = yield* Fake.client(fake, { requestTimeout: "20 millis", retrySchedule: Schedule.recurs(2) })
      const exit = yield* runWithClock(mx.readMemberStatus(ref))
      assert.isTrue(Exit.isFailure(exit))
      const after = yield* Effect.all([
        requests("readMemberStatus", "interrupted"),
        counted(CallMetrics.retries, "readMemberStatus")
      ])
      assert.deepStrictEqual([after[0] - before[0], after[1] - before[1]], [3, 2])
    }))

  it.effect("latency is the time to the answer, on the client's clock", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody(), delay: "1500 millis" }))
      const sum = Effect.map(
        Metric.value(Metric.tagged(CallMetrics.requestDuration, "operation", "aggregateMember")),
        (state) => state.sum
      )
      const before = yield* sum
      const mx = yield* Fake.client(fake)
      yield* runWithClock(mx.aggregateMember(ref))
      assert.strictEqual((yield* sum) - before, 1.5)
    }))
})
