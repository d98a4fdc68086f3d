import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
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
        const started = performance.now()
        const users = yield* sandbox.seedDemo({ users: 200, membersPerUser: 10 })
        // 20 ms at 100,000 MX seconds per second: over half an hour of MX time.
        yield* Effect.sleep("20 millis")
        const guids = yield* sandbox.memberGuids
        assert.strictEqual(guids.length, 2_000)
        let connected = 0
        for (const guid of guids) {
          const state = Option.getOrThrow(yield* sandbox.member(guid))
          if (state.status.connection_status === "CONNECTED" && !state.status.is_being_aggregated) connected++
        }
        assert.strictEqual(connected, 2_000)
        // 1.1 s: about 30 hours of MX time, past every member's first background aggregation (24 h ± 1 h).
        yield* Effect.sleep("1100 millis")
        // Seeding itself spans hours of MX time at this scale, so count per member, not exactly.
        const stats = yield* sandbox.stats
        assert.strictEqual(stats.aggregationsByOrigin["create"], 2_000)
        assert.isAtLeast(stats.aggregationsByOrigin["background"] ?? 0, 2_000)
        for (const guid of guids) {
          const state = Option.getOrThrow(yield* sandbox.member(guid))
          assert.isAtLeast(state.successfulAggregations, 2)
        }
        const listed = yield* get(`/users/${users[0]!.userGuid}/transactions?records_per_page=1000`)
        assert.isAbove(listed.body.pagination.total_entries, 100)
        // A generous budget: the point is O(1) work per member and per request, not a benchmark.
        assert.isBelow(performance.now() - started, 10_000)
      }).pipe(Effect.provide(Sandbox.layer({ observe: recorder.observe, timeScale: 100_000 }))),
    30_000
  )
})
