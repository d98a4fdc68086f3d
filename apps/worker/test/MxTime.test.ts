/**
 * MX time applied once to a whole service (`MxTime.service`): every operation reads the MX clock,
 * whatever fiber calls it, and nothing else does.
 */
import { assert, describe, it } from "@effect/vitest"
import { MxTime } from "@mx-aggregation/worker"
import { Clock, Effect } from "effect"

/** An MX clock stopped at a time far from any real one. */
const mxNow = 1_000
const mxClock = MxTime.make(1, mxNow)

const operations = {
  now: Clock.currentTimeMillis,
  later: (millis: number) => Effect.map(Clock.currentTimeMillis, (now) => now + millis),
  scale: 10
}

describe("MxTime.service", () => {
  it.live("puts every operation that is an effect, or returns one, on MX time", () =>
    Effect.gen(function*() {
      const service = MxTime.service(mxClock, operations)
      const now = yield* service.now
      const later = yield* service.later(5)
      // The anchor plus the few milliseconds the test took, not the real epoch.
      assert.isBelow(now - mxNow, 60_000)
      assert.isBelow(later - 5 - mxNow, 60_000)
      assert.strictEqual(service.scale, 10)
      // The caller's own clock stays real.
      assert.isAbove(yield* Clock.currentTimeMillis, Date.UTC(2020, 0, 1))
    }))

  it("leaves the service as it is without an MX clock (time scale 1)", () => {
    assert.strictEqual(MxTime.service(undefined, operations), operations)
  })
})
