/**
 * The `status` label of `mx_aggregation_unknown_statuses_total` is bounded whatever MX sends: a text
 * that does not look like a status name is `invalid`, and past `Metrics.unknownStatusLabels` names
 * every new one is `other`. (Metric state is per process: this file runs in a process of its own.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Metrics from "@mx-aggregation/worker/Metrics"
import { Effect, Metric } from "effect"

const count = (label: string) =>
  Effect.map(Metric.value(Metric.tagged(Metrics.unknownStatuses, "status", label)), (state) => state.count)

describe("Metrics.unknownStatusLabel", () => {
  it.effect("MX's text when it looks like a status name, `invalid` otherwise, `other` past the bound", () =>
    Effect.gen(function*() {
      for (const text of ["reconnecting", "RECON NECTING", "", "A".repeat(41), "STATUS\"}", "_X", "ÉTAT", "1ST"]) {
        assert.strictEqual(Metrics.unknownStatusLabel(text), "invalid", JSON.stringify(text))
      }
      assert.strictEqual(Metrics.unknownStatusLabel("RECONNECTING"), "RECONNECTING")
      assert.strictEqual(Metrics.unknownStatusLabel("A".repeat(40)), "A".repeat(40))
      for (let i = 2; i < Metrics.unknownStatusLabels; i++) {
        assert.strictEqual(Metrics.unknownStatusLabel(`NEW_STATUS_${i}`), `NEW_STATUS_${i}`)
      }
      assert.strictEqual(Metrics.unknownStatusLabel("ONE_TOO_MANY"), "other")
      // A name already in use keeps its label.
      assert.strictEqual(Metrics.unknownStatusLabel("RECONNECTING"), "RECONNECTING")

      yield* Metrics.unknownStatusObserved("RECONNECTING")
      yield* Metrics.unknownStatusObserved("not a status")
      yield* Metrics.unknownStatusObserved("YET_ANOTHER")
      assert.strictEqual(yield* count("RECONNECTING"), 1)
      assert.strictEqual(yield* count("invalid"), 1)
      assert.strictEqual(yield* count("other"), 1)
      assert.strictEqual(yield* count("YET_ANOTHER"), 0)
    }))
})
