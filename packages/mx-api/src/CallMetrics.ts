/**
 * The metrics of MX calls, recorded by `MxClient` where it makes each call, under MX's operationId
 * (`readMemberStatus`, `aggregateMember`, …): every HTTP attempt by operation and status, 429s,
 * retries, latency, and list rows left out. Effect `Metric`s, in the process-wide registry: an
 * exporter (the worker's Prometheus endpoint) publishes them with the others.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Effect, Exit, Metric, MetricBoundaries } from "effect"

/**
 * HTTP requests to MX, every attempt counted, by `operation` (MX's operationId) and `status`: the HTTP
 * status, `error` when no answer came (connection refused or reset), `interrupted` when the caller
 * stopped waiting (the client's request timeout, or shutdown).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("mx_api_requests", {
  description: "HTTP requests to the MX Platform API (every attempt), by operation and status",
  incremental: true
})

/**
 * MX answers 429 (rate limited), by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const rateLimited = Metric.counter("mx_api_rate_limited", {
  description: "MX answers 429 Too Many Requests, by operation",
  incremental: true
})

/**
 * Attempts beyond the first of one MX call (the client's retries), by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retries = Metric.counter("mx_api_retries", {
  description: "Retried MX requests (attempts beyond the first), by operation",
  incremental: true
})

/**
 * Time from sending a request to MX to its answer's headers, in seconds, by `operation`, on the
 * client's clock (real time).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestDuration = Metric.histogram(
  "mx_api_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "MX request latency in seconds, by operation"
)

/**
 * List rows the client left out because they did not decode, by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const rowsSkipped = Metric.counter("mx_client_rows_skipped_total", {
  description: "MX list rows that did not decode and were left out of the results",
  incremental: true
})

/**
 * The `status` label of an attempt: the HTTP status of its answer, `interrupted` when the caller
 * stopped waiting (the request may well have reached MX, so it counts), `error` without an answer.
 *
 * @since 0.1.0
 * @category recording
 */
export const statusLabel = <E>(exit: Exit.Exit<{ readonly status: number }, E>): string =>
  Exit.match(exit, {
    onSuccess: (response) => String(response.status),
    onFailure: (cause) => Cause.isInterruptedOnly(cause) ? "interrupted" : "error"
  })

/**
 * Records one HTTP attempt of the call `operation` around `send` (the request up to its answer's
 * headers): its status, its latency, a 429, and, for `attempt` > 1, a retry.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordAttempt =
  (operation: string, attempt: number) =>
  <A extends { readonly status: number }, E, R>(send: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Clock.currentTimeNanos, (startedAt) =>
      Effect.zipRight(
        attempt > 1 ? Metric.increment(Metric.tagged(retries, "operation", operation)) : Effect.void,
        Effect.onExit(send, (exit) =>
          Effect.flatMap(Clock.currentTimeNanos, (endedAt) => {
            const status = statusLabel(exit)
            return Effect.all([
              Metric.increment(Metric.tagged(Metric.tagged(requests, "operation", operation), "status", status)),
              Metric.update(
                Metric.tagged(requestDuration, "operation", operation),
                Number(endedAt - startedAt) / 1e9
              ),
              status === "429" ? Metric.increment(Metric.tagged(rateLimited, "operation", operation)) : Effect.void
            ], { discard: true })
          }))
      ))
