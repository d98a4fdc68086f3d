import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { call, createMember, createUser, del, get, makeRecorder, post, sandboxLayer } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

describe("counters", () => {
  it.effect("calls per endpoint and per member, deletes, aggregations started", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const a = (yield* createMember(userGuid, "a")).body.member.guid
      const b = (yield* createMember(userGuid, "b")).body.member.guid
      yield* get(`/users/${userGuid}/members/${a}/status`)
      yield* get(`/users/${userGuid}/members/${a}/status`)
      yield* get(`/users/${userGuid}/members/${b}`)
      yield* TestClock.adjust("1 minute")
      yield* post(`/users/${userGuid}/members/${a}/aggregate`)
      yield* del(`/users/${userGuid}/members/${b}`)
      const counted = yield* stats
      assert.strictEqual(counted.requests, 8)
      assert.deepStrictEqual(counted.byOperation, {
        createUser: 1,
        createMember: 2,
        readMemberStatus: 2,
        readMember: 1,
        aggregateMember: 1,
        deleteMember: 1
      })
      assert.deepStrictEqual(counted.byMember, { [a]: 3, [b]: 2 })
      assert.deepStrictEqual(counted.deletes, { members: 1, users: 0 })
      assert.strictEqual(counted.aggregationsStarted, 3)
      assert.deepStrictEqual(counted.byStatus, { "200": 4, "202": 3, "204": 1 })
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it.effect("peak concurrency overall and per member", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const a = (yield* createMember(userGuid, "a")).body.member.guid
      const b = (yield* createMember(userGuid, "b")).body.member.guid
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setFaults({ latency: "1 second" })
      const requests = [a, a, a, b].map((guid) => get(`/users/${userGuid}/members/${guid}/status`))
      const fiber = yield* Effect.fork(Effect.all(requests, { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const counted = yield* stats
      assert.strictEqual(counted.peakConcurrency, 4)
      assert.deepStrictEqual(counted.peakConcurrencyByMember, { [a]: 3, [b]: 1 })
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it.effect("the shortest interval between two polls of one member, in MX time", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const a = (yield* createMember(userGuid, "a")).body.member.guid
      const b = (yield* createMember(userGuid, "b")).body.member.guid
      assert.isNull((yield* stats).minPollIntervalMs)
      yield* get(`/users/${userGuid}/members/${a}/status`)
      yield* TestClock.adjust("30 millis")
      yield* get(`/users/${userGuid}/members/${b}/status`)
      yield* TestClock.adjust("50 millis")
      yield* get(`/users/${userGuid}/members/${a}`)
      yield* TestClock.adjust("40 millis")
      yield* get(`/users/${userGuid}/members/${a}/status`)
      // 40 ms of Clock time is 4 s of MX time at timeScale 100.
      assert.strictEqual((yield* stats).minPollIntervalMs, 4_000)
    }).pipe(Effect.provide(sandboxLayer(recorder, { timeScale: 100 }))))

  it.effect("resumes outside CHALLENGED and aggregates after an automatic aggregation are counted", () =>
    Effect.gen(function*() {
      const userGuid = yield* createUser()
      const a = (yield* createMember(userGuid, "a")).body.member.guid
      yield* post(`/users/${userGuid}/members/${a}/aggregate`)
      yield* call("PUT", `/users/${userGuid}/members/${a}/resume`, { body: { member: { challenges: [] } } })
      // And after a credential update, which starts an aggregation by itself.
      yield* TestClock.adjust("1 minute")
      const credentials = (yield* get(`/users/${userGuid}/members/${a}/credentials`)).body.credentials
      yield* call("PUT", `/users/${userGuid}/members/${a}`, {
        body: { member: { credentials: [{ guid: credentials[1].guid, value: "new" }] } }
      })
      yield* post(`/users/${userGuid}/members/${a}/aggregate`)
      // An aggregate once that aggregation is over is a new decision, not counted.
      yield* TestClock.adjust("1 minute")
      yield* post(`/users/${userGuid}/members/${a}/aggregate`)
      const counted = yield* stats
      assert.strictEqual(counted.aggregatesAfterAutomatic, 2)
      assert.strictEqual(counted.aggregationsStarted, 3)
      assert.strictEqual(counted.resumesOutsideChallenged, 1)
      assert.strictEqual(counted.byStatus["405"], 1)
    }).pipe(Effect.provide(sandboxLayer(recorder))))

  it.effect("resetStats zeroes the counters; /sandbox/stats serves them and is not counted", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* createUser()
      const served = yield* call("GET", "/sandbox/stats", { anonymous: true })
      assert.strictEqual(served.status, 200)
      assert.deepStrictEqual(served.body, yield* stats)
      assert.strictEqual(served.body.requests, 1)
      yield* sandbox.resetStats
      const reset = yield* stats
      assert.strictEqual(reset.requests, 0)
      assert.deepStrictEqual(reset.byOperation, {})
      yield* createUser("again")
      assert.strictEqual((yield* call("POST", "/sandbox/stats/reset")).status, 204)
      assert.strictEqual((yield* stats).requests, 0)
    }).pipe(Effect.provide(sandboxLayer(recorder))))
})
