/** Reading the worker's Prometheus exposition in tests. */
import { assert } from "@effect/vitest"
import { MetricsEndpoint } from "@mx-aggregation/worker"
import { PrometheusText } from "@mx-aggregation/worker/testing"
import { Effect, Either } from "effect"

/** The current Prometheus text, parsed (the test fails on malformed text). */
export const scrape = Effect.gen(function*() {
  const text = yield* Effect.flatMap(MetricsEndpoint.Prometheus, (prometheus) => prometheus.scrape)
  const parsed = PrometheusText.parse(text)
  if (Either.isLeft(parsed)) return assert.fail(`malformed Prometheus text: ${parsed.left.message}\n${text}`)
  return parsed.right
})

/** The sum of the samples `name` with `labels` in the current exposition. */
export const value = (name: string, labels: Record<string, string> = {}) =>
  Effect.map(scrape, (exposition) => PrometheusText.sumOf(exposition, name, labels))
