import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schedule } from "effect"
import { Sandbox } from "../src/index.js"
import { get, makeRecorder } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

describe("scale", () => {
  // A live clock with a large time scale: the one timer fiber applies everything due at each wake-up.
  // (Under TestClock every distinct transition time is a TestClock step of a few milliseconds.)
  it.live(
    "2,000 members aggregate, then again in the background a day later, on one timer fiber",
    () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const users = yield* sandbox.seedDemo({ users: 200, membersPerUser: 10 })
        const guids = yield* sandbox.memberGuids
        assert.strictEqual(guids.length, 2_000)
        const count = (done: (state: Sandbox.MemberState) => boolean) =>
          Effect.reduce(guids, 0, (n, guid) =>
            Effect.map(sandbox.member(guid), (s) =>
              n + (done(Option.getOrThrow(s)) ? 1 : 0)))
        // Conditions, not sleeps: at 100,000 MX seconds per second, an aggregation takes well under a
        // millisecond and a day about 0.9 s, but a loaded machine may run the timer fiber late.
        const eventually = (label: string, done: (state: Sandbox.MemberState) => boolean) =>
          count(done).pipe(
            Effect.repeat({
              schedule: Schedule.spaced("10 millis"),
              until: (n) =>
                n === guids.length
            }),
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`timed out waiting for ${label}`) })
          )
        yield* eventually(
          "every member CONNECTED",
          (state) => state.status.connection_status === "CONNECTED" && !state.status.is_being_aggregated
        )
        // Past every member's first background aggregation (24 h ± 1 h of MX time).
        yield* eventually("a second aggregation of every member", (state) => state.successfulAggregations >= 2)
        // Seeding itself spans hours of MX time at this scale, so count per member, not exactly.
        const stats = yield* sandbox.stats
        assert.strictEqual(stats.aggregationsByOrigin["create"], 2_000)
        assert.isAtLeast(stats.aggregationsByOrigin["background"] ?? 0, 2_000)
        const listed = yield* get(`/users/${users[0]!.userGuid}/transactions?records_per_page=1000`)
        assert.isAbove(listed.body.pagination.total_entries, 100)
      }).pipe(Effect.provide(Sandbox.layer({ observe: recorder.observe, timeScale: 100_000 }))),
    30_000
  )
})
