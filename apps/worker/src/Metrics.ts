/**
 * The worker's metrics, as Effect `Metric`s that `MetricsEndpoint` exports for Prometheus: aggregation
 * runs started and settled (by outcome and status class), run durations, MFA waits and status polls
 * (the backlog gauges read from the store are `StoreGauges`'). MX calls (by operation and HTTP status,
 * with their 429s, retries and latency) are recorded by the client that makes them:
 * `@mx-aggregation/mx-api`'s `CallMetrics`.
 *
 * Counters are incremental, so they export as Prometheus counters (`…_total`). Effect's metric
 * registry is global to the process: every worker in one process adds to the same series.
 *
 * @since 0.1.0
 */
import type { AggregationPolicy } from "@mx-aggregation/domain"
import { ConnectionStatus } from "@mx-aggregation/domain"
import type { AggregationRuns } from "@mx-aggregation/store"
import { Effect, Metric, MetricBoundaries } from "effect"

// Aggregation runs

/**
 * Runs started, by `trigger` (`Scheduled`, `UserPresent`, `Manual`, `Webhook`, `CredentialsUpdated`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const runsStarted = Metric.counter("mx_aggregation_runs_started", {
  description: "Aggregation runs started, by trigger",
  incremental: true
})

/**
 * Runs settled, by `outcome` (the stored run outcome) and `status_class` (the class of the last
 * connection status observed: `Connected`, `Challenged`, `NeedsCredentials`, …, `NotAggregating`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const runsSettled = Metric.counter("mx_aggregation_runs_settled", {
  description: "Aggregation runs settled, by outcome and status class",
  incremental: true
})

/**
 * How long runs took from start to settlement, in seconds of MX time (real time against real MX),
 * by `outcome`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const runDuration = Metric.histogram(
  "mx_aggregation_run_duration_seconds",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Aggregation run duration in seconds, by outcome"
)

/**
 * MFA waits: a run stored challenges and waits for answers (`result="started"`), then the answers
 * came (`answered`), the wait timed out (`timed_out`), or the member moved on without the worker's
 * answers (`superseded`: answered elsewhere, or MX's own timeout).
 *
 * @since 0.1.0
 * @category metrics
 */
export const mfaWaits = Metric.counter("mx_aggregation_mfa_waits", {
  description: "MFA waits, by result (started, answered, timed_out, superseded)",
  incremental: true
})

/**
 * How long a run waited for MFA answers, in seconds, by `result`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const mfaWaitDuration = Metric.histogram(
  "mx_aggregation_mfa_wait_seconds",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 10 }),
  "Time a run waited for MFA answers in seconds, by result"
)

/**
 * Status polls of members being aggregated (each one a `readMemberStatus` call).
 *
 * @since 0.1.0
 * @category metrics
 */
export const statusPolls = Metric.counter("mx_aggregation_status_polls", {
  description: "Status polls while waiting for an aggregation to settle",
  incremental: true
})

/**
 * Polls per polling round (from the aggregate call or a resume until the member settled).
 *
 * @since 0.1.0
 * @category metrics
 */
export const pollsPerRound = Metric.histogram(
  "mx_aggregation_polls_per_round",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 8 }),
  "Status polls per polling round"
)

/**
 * `connection_status` values MX reported that the domain does not know, each counted once when a
 * member takes it on, by `status`: MX's text when it looks like a status name (upper-case letters,
 * digits and `_`, at most 40 characters), `invalid` otherwise, and `other` once `unknownStatusLabels`
 * names are in use, so that whatever MX (or anything in between) sends cannot grow the label set.
 *
 * @since 0.1.0
 * @category metrics
 */
export const unknownStatuses = Metric.counter("mx_aggregation_unknown_statuses", {
  description: "Connection statuses MX reported that the worker does not know, by status",
  incremental: true
})

/**
 * The most distinct `status` labels `unknownStatuses` uses (then `other`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const unknownStatusLabels = 20

// Effect's metric registry is per process, so is this set of the labels it holds.
const unknownStatusLabelsInUse = new Set<string>()

/**
 * The `status` label of an unknown status (see `unknownStatuses`).
 *
 * @since 0.1.0
 * @category recording
 */
export const unknownStatusLabel = (status: string): string => {
  if (!/^[A-Z][A-Z0-9_]{0,39}$/.test(status)) return "invalid"
  if (unknownStatusLabelsInUse.has(status)) return status
  if (unknownStatusLabelsInUse.size >= unknownStatusLabels) return "other"
  unknownStatusLabelsInUse.add(status)
  return status
}

/**
 * Records that a member took on a status the domain does not know.
 *
 * @since 0.1.0
 * @category recording
 */
export const unknownStatusObserved = (status: string): Effect.Effect<void> =>
  Effect.suspend(() => Metric.increment(Metric.tagged(unknownStatuses, "status", unknownStatusLabel(status))))

// Recording helpers

/**
 * Records that a run started.
 *
 * @since 0.1.0
 * @category recording
 */
export const runStarted = (trigger: AggregationPolicy.Trigger): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(runsStarted, "trigger", trigger))

/**
 * Records that a run settled: its outcome, the class of the last status observed, and how long it
 * took (milliseconds, when known).
 *
 * @since 0.1.0
 * @category recording
 */
export const runSettled = (options: {
  readonly outcome: AggregationRuns.RunOutcome
  readonly status: ConnectionStatus.NullableReportedStatus
  readonly durationMillis?: number | null | undefined
}): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(
      Metric.tagged(
        Metric.tagged(runsSettled, "outcome", options.outcome),
        "status_class",
        ConnectionStatus.classify(options.status)
      )
    ),
    options.durationMillis === null || options.durationMillis === undefined
      ? Effect.void
      : Metric.update(Metric.tagged(runDuration, "outcome", options.outcome), options.durationMillis / 1000)
  )

/**
 * Records that a run started waiting for MFA answers.
 *
 * @since 0.1.0
 * @category recording
 */
export const mfaWaitStarted: Effect.Effect<void> = Metric.increment(Metric.tagged(mfaWaits, "result", "started"))

/**
 * Records how an MFA wait ended, and how long it lasted (milliseconds, when known).
 *
 * @since 0.1.0
 * @category recording
 */
export const mfaWaitEnded = (
  result: "answered" | "timed_out" | "superseded",
  waitedMillis?: number | null | undefined
): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(mfaWaits, "result", result)),
    waitedMillis === null || waitedMillis === undefined
      ? Effect.void
      : Metric.update(Metric.tagged(mfaWaitDuration, "result", result), Math.max(0, waitedMillis) / 1000)
  )

/**
 * Records one polling round and how many status polls it made.
 *
 * @since 0.1.0
 * @category recording
 */
export const pollRoundEnded = (polls: number): Effect.Effect<void> =>
  Effect.zipRight(Metric.incrementBy(statusPolls, polls), Metric.update(pollsPerRound, polls))
