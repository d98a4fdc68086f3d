import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Effect, Exit, Redacted, Stream } from "effect"
import * as MxClient from "../src/MxClient.js"
import { runWithClock } from "./support/Clock.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

/** A fake failing the first `failures` requests with `failure`, then answering `success`. */
const flaky = (failures: number, failure: Fake.Reply, success: Fake.Reply = { status: 200, body: Fake.memberBody() }) =>
  Fake.make((_, index) => index < failures ? failure : success)

/** Time between consecutive requests, rounded to a microsecond (jittered delays are fractional millis). */
const gaps = (fake: Fake.FakeMx) =>
  fake.requests.slice(1).map((r, i) => Math.round((r.at - fake.requests[i]!.at) * 1000) / 1000)

const createMember = (mx: MxClient.Service) =>
  mx.createMember({
    userGuid,
    institutionCode: Member.InstitutionCode.make("mxbank"),
    credentials: [
      Member.CredentialValue.make({ guid: Member.CredentialGuid.make("CRD-1"), value: Redacted.make("mxuser") })
    ]
  })

describe("MxClient retries", () => {
  for (
    const [name, failure] of [
      ["429", { status: 429, body: { error: "Too many requests" } }],
      ["503", { status: 503 }],
      ["500", { status: 500 }],
      ["transport", { transport: "socket hang up" }]
    ] as const
  ) {
    it.effect(`${name} is retried with growing, jittered backoff, then succeeds`, () =>
      Effect.gen(function*() {
        const fake = flaky(4, failure)
        const mx = yield* Fake.client(fake)
        const exit = yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(fake.requests.length, 5)
        // 250 ms doubling, each x0.8..x1.2: 200-300, 400-600, 800-1200, 1600-2400.
        const observed = gaps(fake)
        observed.forEach((gap, i) => {
          const nominal = 250 * 2 ** i
          assert.isAtLeast(gap, nominal * 0.8, `gap ${i}: ${observed}`)
          assert.isAtMost(gap, nominal * 1.2, `gap ${i}: ${observed}`)
        })
      }))
  }

  for (const status of [400, 401, 403, 404, 405, 409, 422]) {
    it.effect(`${status} is not retried`, () =>
      Effect.gen(function*() {
        const fake = flaky(10, { status, body: { error: "no" } })
        const mx = yield* Fake.client(fake)
        const exit = yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(fake.requests.length, 1)
      }))
  }

  it.effect("a Decode failure is not retried", () =>
    Effect.gen(function*() {
      const fake = flaky(10, { status: 200, body: "{not json" })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.effect("gives up after the bound: 1 attempt + 5 retries, then the last error", () =>
    Effect.gen(function*() {
      const fake = flaky(100, { status: 503, body: { error: "The MX Platform is being updated" } })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
      assert.strictEqual(fake.requests.length, 1 + MxClient.maxRetries)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert.strictEqual(error?.reason, "Unavailable")
        assert.strictEqual(error?.message, "The MX Platform is being updated")
      }
      // The whole budget stays within the documented bound (each delay at most 10 s).
      const total = fake.requests.at(-1)!.at - fake.requests[0]!.at
      assert.isAtMost(total, 5 * 10_000)
      assert.isAtLeast(total, (250 + 500 + 1000 + 2000 + 4000) * 0.8)
    }))

  it.effect("the delay between attempts is capped at 10 s", () =>
    Effect.gen(function*() {
      const fake = flaky(100, { status: 500 })
      // More retries than the default show the cap: the 8th delay would be 250 ms * 2^7 = 32 s uncapped.
      const schedule = MxClient.makeRetrySchedule({ base: MxClient.retryBase, cap: MxClient.retryCap, maxRetries: 8 })
      const mx = yield* Fake.client(fake, { retrySchedule: schedule })
      yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
      const observed = gaps(fake)
      assert.strictEqual(observed.length, 8)
      for (const gap of observed) assert.isAtMost(gap, 10_000)
      assert.isAtLeast(observed.at(-1)!, 10_000)
    }))

  it.effect("Retry-After is honoured: the next attempt waits at least that long", () =>
    Effect.gen(function*() {
      const fake = flaky(1, { status: 429, headers: { "retry-after": "30" } })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.requests.length, 2)
      assert.isAtLeast(gaps(fake)[0]!, 30_000)
      assert.isAtMost(gaps(fake)[0]!, 30_000)
    }))

  it.effect("a huge Retry-After is cut to 60 s", () =>
    Effect.gen(function*() {
      const fake = flaky(1, { status: 503, headers: { "retry-after": "86400" } })
      const mx = yield* Fake.client(fake)
      yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
      assert.strictEqual(fake.requests.length, 2)
      assert.isAtMost(gaps(fake)[0]!, 60_000)
    }))

  it.effect("createMember (not idempotent) retries 429 and 503: MX did nothing", () =>
    Effect.gen(function*() {
      const fake = Fake.make((_, i) =>
        i === 0 ? { status: 429 } : i === 1 ? { status: 503 } : { status: 202, body: Fake.memberBody() }
      )
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(createMember(mx))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.requests.length, 3)
    }))

  for (const [name, failure] of [["500", { status: 500 }], ["transport", { transport: "ECONNRESET" }]] as const) {
    it.effect(`createMember does not retry ${name}: the outcome is unknown, a retry could duplicate`, () =>
      Effect.gen(function*() {
        const fake = flaky(1, failure, { status: 202, body: Fake.memberBody() })
        const mx = yield* Fake.client(fake)
        const exit = yield* runWithClock(createMember(mx))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(fake.requests.length, 1)
      }))
  }

  it.effect("resumeAggregation does not retry a transport failure (it could answer the next MFA round)", () =>
    Effect.gen(function*() {
      const fake = flaky(1, { transport: "ECONNRESET" }, { status: 202, body: Fake.memberBody() })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(
        mx.resumeAggregation({
          userGuid,
          memberGuid,
          answers: [
            Member.CredentialValue.make({ guid: Member.CredentialGuid.make("CRD-q"), value: Redacted.make("correct") })
          ]
        })
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.effect("updateMember with new credentials does not retry a transport failure (it would start a second aggregation)", () =>
    Effect.gen(function*() {
      const fake = flaky(1, { transport: "ECONNRESET" })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(
        mx.updateMember({
          userGuid,
          memberGuid,
          credentials: [
            Member.CredentialValue.make({ guid: Member.CredentialGuid.make("CRD-p"), value: Redacted.make("secret") })
          ]
        })
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.effect("updateMember without credentials (no aggregation) retries a transport failure", () =>
    Effect.gen(function*() {
      const fake = flaky(1, { transport: "ECONNRESET" })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(mx.updateMember({ userGuid, memberGuid, metadata: "m" }))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.requests.length, 2)
    }))

  it.effect("aggregateMember (202 while running: safe to repeat) retries a transport failure", () =>
    Effect.gen(function*() {
      const fake = flaky(2, { transport: "ECONNRESET" }, { status: 202, body: Fake.memberBody() })
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(mx.aggregateMember({ userGuid, memberGuid }))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.requests.length, 3)
    }))

  it.effect("each page of a list is retried on its own", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request, index) =>
        index === 1
          ? { status: 502 }
          : {
            status: 200,
            body: Fake.pageBody("members", [Fake.memberBody().member], Number(request.url.searchParams.get("page")), 2)
          }
      )
      const mx = yield* Fake.client(fake)
      const exit = yield* runWithClock(Stream.runCollect(mx.listMembers({ userGuid })))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(fake.requests.map((r) => r.url.searchParams.get("page")), ["1", "2", "2"])
    }))
})
