import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { call, createMember, createUser, get, makeRecorder, put, sandboxLayer, userWithMember } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

const background = Effect.map(
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats),
  (stats) => stats.aggregationsByOrigin["background"] ?? 0
)

const withBackground = (options: Parameters<typeof sandboxLayer>[1] = {}) =>
  sandboxLayer(recorder, { ...options, background: { enabled: true, ...options.background } })

describe("background aggregation", () => {
  it.effect("MX aggregates a connected member about daily, revealing new transactions", () =>
    Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      yield* TestClock.adjust("1 minute")
      const first = (yield* get(`/users/${userGuid}/members/${memberGuid}/transactions?records_per_page=1000`)).body
      yield* TestClock.adjust("22 hours")
      assert.strictEqual(yield* background, 0)
      yield* TestClock.adjust("3 hours")
      assert.strictEqual(yield* background, 1)
      const member = (yield* get(`/users/${userGuid}/members/${memberGuid}`)).body.member
      assert.strictEqual(member.connection_status, "CONNECTED")
      assert.isAbove(Date.parse(member.aggregated_at), Date.parse("2025-03-02T11:00:00Z"))
      const after = (yield* get(`/users/${userGuid}/members/${memberGuid}/transactions?records_per_page=1000`)).body
      assert.isAbove(after.pagination.total_entries, first.pagination.total_entries)
      yield* TestClock.adjust("25 hours")
      assert.strictEqual(yield* background, 2)
    }).pipe(Effect.provide(withBackground())))

  it.effect("no background aggregation within 20 hours of one the partner started", () =>
    Effect.gen(function*() {
      yield* userWithMember("password")
      yield* TestClock.adjust("19 hours")
      assert.strictEqual(yield* background, 0)
      yield* TestClock.adjust("2 hours")
      assert.strictEqual(yield* background, 1)
      // After a background aggregation the next one comes after the interval alone.
      yield* TestClock.adjust("4 hours")
      assert.strictEqual(yield* background, 2)
    }).pipe(Effect.provide(withBackground({ background: { interval: "4 hours", jitter: "0 millis" } }))))

  it.effect("is switchable at runtime, and skips disabled members, disabled users and members needing the user", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setBackgroundAggregation(false)
      const userGuid = yield* createUser()
      yield* createMember(userGuid, "password")
      yield* createMember(userGuid, "no-background", { background_aggregation_is_disabled: true })
      yield* createMember(userGuid, "UNAUTHORIZED")
      const other = yield* createUser("disabled-user")
      yield* createMember(other, "password")
      yield* put(`/users/${other}`, { user: { is_disabled: true } })
      yield* TestClock.adjust("3 days")
      assert.strictEqual(yield* background, 0)
      yield* sandbox.setBackgroundAggregation(true)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* background, 1)
    }).pipe(Effect.provide(withBackground())))

  it.effect("a background aggregation of a member whose bank asks MFA ends CHALLENGED, then EXPIRED", () =>
    Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("challenge")
      yield* TestClock.adjust("10 seconds")
      const listed = (yield* get(`/users/${userGuid}/members/${memberGuid}/challenges`)).body.challenges
      yield* put(`/users/${userGuid}/members/${memberGuid}/resume`, {
        member: { challenges: listed.map((c: any) => ({ guid: c.guid, value: "correct" })) }
      })
      yield* TestClock.adjust("1 minute")
      yield* TestClock.adjust("25 hours")
      assert.strictEqual(yield* background, 1)
      const sandbox = yield* Sandbox.Sandbox
      const state = yield* sandbox.member(memberGuid)
      assert.strictEqual(state._tag === "Some" && state.value.status.connection_status, "EXPIRED")
    }).pipe(Effect.provide(withBackground())))

  it.effect("PUT /sandbox/background switches it over HTTP", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* call("PUT", "/sandbox/background", { body: { enabled: false } })).status, 204)
      yield* userWithMember("password")
      yield* TestClock.adjust("3 days")
      assert.strictEqual(yield* background, 0)
      assert.strictEqual((yield* call("PUT", "/sandbox/background", { body: { enabled: "yes" } })).status, 400)
      assert.strictEqual((yield* call("PUT", "/sandbox/background", { body: { enabled: true } })).status, 204)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* background, 1)
    }).pipe(Effect.provide(withBackground())))
})
