/**
 * Test support for users of the worker's observability: a strict parser of the Prometheus text
 * that `GET /metrics` serves, and an in-memory span recorder. Not loaded by the daemon.
 *
 * @since 0.1.0
 */

/** A strict parser of Prometheus' text format and sums over its samples. @since 0.1.0 */
export * as PrometheusText from "./testing/PrometheusText.js"

/** Finished spans kept in memory, for `Observability.layer({ spanProcessors })`. @since 0.1.0 */
export * as SpanRecorder from "./testing/SpanRecorder.js"
