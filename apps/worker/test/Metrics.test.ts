/**
 * The worker's recording helpers: runs started and settled, MFA waits and polls appear in the
 * Prometheus text with their types and labels.
 *
 * Effect's metric registry is global to the process: tests compare values before and after.
 */
import { assert, describe, it } from "@effect/vitest"
import { Metrics, Observability } from "@mx-aggregation/worker"
import { Effect } from "effect"
import { scrape, value } from "./support/scrape.js"

describe("recording helpers", () => {
  it.effect("runs, MFA waits and polls appear with their types and labels", () =>
    Effect.gen(function*() {
      const read = Effect.all({
        started: value("mx_aggregation_runs_started_total", { trigger: "UserPresent" }),
        settled: value("mx_aggregation_runs_settled_total", { outcome: "connected", status_class: "Connected" }),
        settledChallenged: value("mx_aggregation_runs_settled_total", {
          outcome: "needs_user_present",
          status_class: "Challenged"
        }),
        durations: value("mx_aggregation_run_duration_seconds_count", { outcome: "connected" }),
        durationSum: value("mx_aggregation_run_duration_seconds_sum", { outcome: "connected" }),
        waits: value("mx_aggregation_mfa_waits_total", { result: "started" }),
        answered: value("mx_aggregation_mfa_waits_total", { result: "answered" }),
        timedOut: value("mx_aggregation_mfa_waits_total", { result: "timed_out" }),
        waited: value("mx_aggregation_mfa_wait_seconds_count", { result: "answered" }),
        polls: value("mx_aggregation_status_polls_total"),
        rounds: value("mx_aggregation_polls_per_round_count")
      })
      const before = yield* read
      yield* Metrics.runStarted("UserPresent")
      yield* Metrics.runSettled({ outcome: "connected", status: "CONNECTED", durationMillis: 42_000 })
      yield* Metrics.runSettled({ outcome: "needs_user_present", status: "CHALLENGED" })
      yield* Metrics.mfaWaitStarted
      yield* Metrics.mfaWaitStarted
      yield* Metrics.mfaWaitEnded("answered", 30_000)
      yield* Metrics.mfaWaitEnded("timed_out")
      yield* Metrics.pollRoundEnded(5)
      yield* Metrics.pollRoundEnded(2)
      const after = yield* read
      const delta = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]])
      )
      assert.deepStrictEqual(delta, {
        started: 1,
        settled: 1,
        settledChallenged: 1,
        durations: 1,
        durationSum: 42,
        waits: 2,
        answered: 1,
        timedOut: 1,
        waited: 1,
        polls: 7,
        rounds: 2
      })
      const { types } = yield* scrape
      assert.strictEqual(types.get("mx_aggregation_runs_started_total"), "counter")
      assert.strictEqual(types.get("mx_aggregation_runs_settled_total"), "counter")
      assert.strictEqual(types.get("mx_aggregation_run_duration_seconds"), "histogram")
      assert.strictEqual(types.get("mx_aggregation_mfa_waits_total"), "counter")
      assert.strictEqual(types.get("mx_aggregation_polls_per_round"), "histogram")
    }).pipe(Effect.provide(Observability.layer())))
})
