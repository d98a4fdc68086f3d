import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { call, createMember, get, makeRecorder, sandboxLayer, userWithMember } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

const statuses = (n: number, path = "/institutions") =>
  Effect.forEach(Array.from({ length: n }), () => Effect.map(get(path), (answer) => answer.status))

const count = (values: ReadonlyArray<number>, status: number) => values.filter((value) => value === status).length

describe("faults", () => {
  it.effect("above the rate limit requests get 429 with an error body, and the counters show them", () =>
    Effect.gen(function*() {
      const answers = yield* statuses(8)
      assert.deepStrictEqual(answers, [200, 200, 200, 200, 200, 429, 429, 429])
      const limited = yield* get("/institutions")
      assert.strictEqual(limited.status, 429)
      assert.isString(limited.body.error.message)
      let counted = yield* stats
      assert.strictEqual(counted.rateLimited, 4)
      assert.strictEqual(counted.byStatus["429"], 4)
      // The bucket refills at the rate: one second later, five more pass.
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* statuses(6), [200, 200, 200, 200, 200, 429])
      yield* TestClock.adjust("200 millis")
      assert.deepStrictEqual(yield* statuses(2), [200, 429])
      counted = yield* stats
      assert.strictEqual(counted.rateLimited, 6)
    }).pipe(Effect.provide(sandboxLayer(recorder, { faults: { rateLimit: { requestsPerSecond: 5 } } }))))

  it.effect("above the concurrency cap requests get 429 at once", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 4 }, () => get("/institutions")), { concurrency: "unbounded" })
      )
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      assert.strictEqual((yield* stats).rateLimited, 2)
      yield* TestClock.adjust("1 second")
      const answers = yield* Fiber.join(fiber)
      assert.deepStrictEqual(answers.map((a) => a.status).sort(), [200, 200, 429, 429])
      // Two in flight, and each refused one for the instant it took to refuse it.
      assert.strictEqual((yield* stats).peakConcurrency, 3)
    }).pipe(Effect.provide(sandboxLayer(recorder, { faults: { maxConcurrency: 2, latency: "1 second" } }))))

  it.effect("a fixed latency delays every answer (Clock time, not scaled)", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(get("/institutions"))
      yield* TestClock.adjust("199 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
    }).pipe(Effect.provide(sandboxLayer(recorder, { timeScale: 100, faults: { latency: "200 millis" } }))))

  it.effect("a random latency stays within its range", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) {
        const fiber = yield* Effect.fork(get("/institutions"))
        yield* TestClock.adjust("99 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("201 millis")
        assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
      }
    }).pipe(Effect.provide(sandboxLayer(recorder, { faults: { latency: { min: "100 millis", max: "300 millis" } } }))))

  it.effect("a share of 5xx is injected overall, with MX's error body", () =>
    Effect.gen(function*() {
      const answers = yield* statuses(400)
      const failed = count(answers, 503)
      assert.isAbove(failed, 80)
      assert.isBelow(failed, 160)
      assert.strictEqual(count(answers, 200) + failed, 400)
      assert.strictEqual((yield* stats).injectedErrors, failed)
    }).pipe(Effect.provide(sandboxLayer(recorder, { faults: { serverErrors: { rate: 0.3 } } }))))

  it.effect("a share of 5xx per endpoint, with a chosen status, switchable at runtime", () =>
    Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setFaults({ serverErrors: { byOperation: { readMemberStatus: 1 }, status: 500 } })
      const failed = yield* get(`/users/${userGuid}/members/${memberGuid}/status`)
      assert.strictEqual(failed.status, 500)
      assert.strictEqual(failed.body.error.message, "Injected server error.")
      assert.strictEqual((yield* get(`/users/${userGuid}/members/${memberGuid}`)).status, 200)
      yield* sandbox.setFaults({})
      assert.strictEqual((yield* get(`/users/${userGuid}/members/${memberGuid}/status`)).status, 200)
      // Over HTTP too (for benchmarks driving a served sandbox).
      const set = yield* call("PUT", "/sandbox/faults", { body: { serverErrors: { rate: 1, status: 502 } } })
      assert.strictEqual(set.status, 204)
      assert.strictEqual((yield* get("/institutions")).status, 502)
      const bad = yield* call("PUT", "/sandbox/faults", { rawBody: "[" })
      assert.strictEqual(bad.status, 400)
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it.effect("variations: a member reported with a status MX may add, list rows without a guid, within MX's spec", () =>
    Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      const other = (yield* createMember(userGuid, "another-password")).body.member.guid as string
      yield* TestClock.adjust("1 minute")
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setFaults({
        variations: {
          connectionStatus: { [memberGuid]: "RECONNECTING" },
          undecodableRows: { listTransactionsByMember: 2 }
        }
      })
      const member = `/users/${userGuid}/members/${memberGuid}`
      assert.strictEqual((yield* get(member)).body.member.connection_status, "RECONNECTING")
      assert.strictEqual((yield* get(`${member}/status`)).body.member.connection_status, "RECONNECTING")
      assert.deepStrictEqual(
        (yield* get(`/users/${userGuid}/members`)).body.members.map((m: any) => [m.guid, m.connection_status]),
        [[memberGuid, "RECONNECTING"], [other, "CONNECTED"]]
      )
      // Only that member; behind it, the sandbox goes on with the member's own state.
      assert.strictEqual(Option.getOrThrow(yield* sandbox.member(memberGuid)).member.connection_status, "CONNECTED")
      // Two rows with a null guid on the first page of transactions only, none on accounts.
      const first = (yield* get(`${member}/transactions?records_per_page=10&page=1`)).body
      assert.deepStrictEqual(first.transactions.slice(-2).map((t: any) => t.guid), [null, null])
      assert.strictEqual(first.transactions.filter((t: any) => t.guid === null).length, 2)
      assert.strictEqual(first.transactions[10].amount, first.transactions[0].amount)
      const second = (yield* get(`${member}/transactions?records_per_page=10&page=2`)).body
      assert.isTrue(second.transactions.every((t: any) => typeof t.guid === "string"))
      assert.isTrue((yield* get(`${member}/accounts`)).body.accounts.every((a: any) => typeof a.guid === "string"))
      // Over HTTP too, and gone once the faults are replaced.
      assert.strictEqual((yield* call("PUT", "/sandbox/faults", { body: {} })).status, 204)
      assert.strictEqual((yield* get(member)).body.member.connection_status, "CONNECTED")
      assert.strictEqual(
        (yield* get(`${member}/transactions?records_per_page=10&page=1`)).body.transactions.length,
        10
      )
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it.effect("the same seed injects the same faults", () =>
    Effect.gen(function*() {
      const run = statuses(50).pipe(
        Effect.provide(sandboxLayer(recorder, { seed: 3, faults: { serverErrors: { rate: 0.5 } } }))
      )
      assert.deepStrictEqual(yield* run, yield* run)
    }))
})
