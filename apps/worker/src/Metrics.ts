/**
 * The worker's metrics, as Effect `Metric`s that `Observability` exports for Prometheus: aggregation
 * runs started and settled (by outcome and status class), run durations, MFA waits, status polls,
 * MX calls by operation and HTTP status with their 429s, retries and latency, and gauges of the
 * workflow backlog read from the store.
 *
 * Counters are incremental, so they export as Prometheus counters (`…_total`). Effect's metric
 * registry is global to the process: every worker in one process adds to the same series.
 *
 * @since 0.1.0
 */
import { HttpClient, type HttpClientRequest } from "@effect/platform"
import type { AggregationPolicy } from "@mx-aggregation/domain"
import { ConnectionStatus } from "@mx-aggregation/domain"
import { AggregationRuns, PendingChallenges, type StoreError, TrackedMembers } from "@mx-aggregation/store"
import { Cause, Clock, Effect, Exit, Layer, Metric, MetricBoundaries, Option, type Tracer } from "effect"

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

// MX calls

/**
 * HTTP requests to MX, every attempt counted, by `operation` (MX's operationId, `unknown` for other
 * paths) and `status`: the HTTP status, `error` when no answer came (connection refused or reset),
 * `interrupted` when the caller stopped waiting (the client's request timeout, or shutdown).
 *
 * @since 0.1.0
 * @category metrics
 */
export const mxRequests = Metric.counter("mx_api_requests", {
  description: "HTTP requests to the MX Platform API (every attempt), by operation and status",
  incremental: true
})

/**
 * MX answers 429 (rate limited), by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const mxRateLimited = Metric.counter("mx_api_rate_limited", {
  description: "MX answers 429 Too Many Requests, by operation",
  incremental: true
})

/**
 * Attempts beyond the first of one MX call (the client's retries), by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const mxRetries = Metric.counter("mx_api_retries", {
  description: "Retried MX requests (attempts beyond the first), by operation",
  incremental: true
})

/**
 * Real time from sending a request to MX to its answer's headers, in seconds, by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const mxRequestDuration = Metric.histogram(
  "mx_api_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "MX request latency in seconds, by operation"
)

// Backlog gauges (read from the store)

/**
 * Members with an active run (claimed and not released), across all replicas.
 *
 * @since 0.1.0
 * @category metrics
 */
export const activeRuns = Metric.gauge("mx_aggregation_runs_active", {
  description: "Members with an active aggregation run (database-wide)"
})

/**
 * Tracked members due for a run now and not running: the scheduler's backlog.
 *
 * @since 0.1.0
 * @category metrics
 */
export const dueMembers = Metric.gauge("mx_aggregation_members_due", {
  description: "Tracked members due for a run and not running (database-wide)"
})

/**
 * Tracked members per `status_class` (`None` for members never observed).
 *
 * @since 0.1.0
 * @category metrics
 */
export const members = Metric.gauge("mx_aggregation_members", {
  description: "Tracked members by status class (database-wide)"
})

/**
 * Open MFA challenges: runs waiting for the user's answers right now.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pendingChallenges = Metric.gauge("mx_aggregation_challenges_pending", {
  description: "Open MFA challenges waiting for answers (database-wide)"
})

/**
 * Runs in the journal per `outcome` (`unfinished` for runs in flight).
 *
 * @since 0.1.0
 * @category metrics
 */
export const runsByOutcome = Metric.gauge("mx_aggregation_runs_stored", {
  description: "Aggregation runs in the journal by outcome (database-wide)"
})

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

// MX operations from method and path

const operations: ReadonlyArray<readonly [method: string, template: string, operationId: string]> = [
  ["GET", "/users/{}/members/{}/status", "readMemberStatus"],
  ["GET", "/users/{}/members/{}/challenges", "listMemberChallenges"],
  ["PUT", "/users/{}/members/{}/resume", "resumeAggregation"],
  ["POST", "/users/{}/members/{}/aggregate", "aggregateMember"],
  ["POST", "/users/{}/members/{}/check_balance", "checkBalances"],
  ["POST", "/users/{}/members/{}/identify", "identifyMember"],
  ["POST", "/users/{}/members/{}/verify", "verifyMember"],
  ["POST", "/users/{}/members/{}/extend_history", "extendHistory"],
  ["POST", "/users/{}/members/{}/fetch_statements", "fetchStatements"],
  ["GET", "/users/{}/members/{}/credentials", "listMemberCredentials"],
  ["GET", "/users/{}/members/{}/oauth_window_uri", "requestOAuthWindowURI"],
  ["GET", "/users/{}/members/{}/accounts/{}", "readAccountByMember"],
  ["GET", "/users/{}/members/{}/accounts", "listMemberAccounts"],
  ["GET", "/users/{}/members/{}/transactions", "listTransactionsByMember"],
  ["GET", "/users/{}/members/{}", "readMember"],
  ["PUT", "/users/{}/members/{}", "updateMember"],
  ["DELETE", "/users/{}/members/{}", "deleteMember"],
  ["GET", "/users/{}/members", "listMembers"],
  ["POST", "/users/{}/members", "createMember"],
  ["GET", "/users/{}/accounts/{}/transactions", "listTransactionsByAccount"],
  ["GET", "/users/{}/accounts/{}", "readAccount"],
  ["GET", "/users/{}/accounts", "listUserAccounts"],
  ["GET", "/users/{}/transactions/{}", "readTransaction"],
  ["GET", "/users/{}/transactions", "listTransactions"],
  ["GET", "/users/{}", "readUser"],
  ["PUT", "/users/{}", "updateUser"],
  ["DELETE", "/users/{}", "deleteUser"],
  ["GET", "/users", "listUsers"],
  ["POST", "/users", "createUser"],
  ["GET", "/institutions/{}/credentials", "listInstitutionCredentials"],
  ["GET", "/institutions/{}", "readInstitution"],
  ["GET", "/institutions", "listInstitutions"]
]

// Anchored at the end of the path, so that a base path in front (a proxy's prefix) does not matter;
// most specific first.
const matchers = operations.map(([method, template, operationId]) => ({
  method,
  pattern: new RegExp(`${template.replaceAll("{}", "[^/]+")}/?$`),
  operationId
}))

const pathOf = (url: string): string => {
  try {
    return new URL(url).pathname
  } catch {
    return url.split(/[?#]/)[0] ?? url
  }
}

/**
 * MX's operationId (as in its OpenAPI spec and the sandbox's counters) for a request, from its method
 * and path; `unknown` for any other request.
 *
 * @since 0.1.0
 * @category mx calls
 */
export const operationOf = (method: string, url: string): string => {
  const path = pathOf(url)
  const upper = method.toUpperCase()
  for (const matcher of matchers) {
    if (matcher.method === upper && matcher.pattern.test(path)) return matcher.operationId
  }
  return "unknown"
}

// Attempts per MxClient call: the client wraps all attempts of one call (its retries included) in one
// span, so a second request under the same span is a retry.
const attemptsBySpan = new WeakMap<Tracer.AnySpan, number>()

const countAttempt = (operation: string) =>
  Effect.flatMap(Effect.option(Effect.currentParentSpan), (span) => {
    if (Option.isNone(span)) return Effect.void
    const attempts = (attemptsBySpan.get(span.value) ?? 0) + 1
    attemptsBySpan.set(span.value, attempts)
    return attempts > 1 ? Metric.increment(Metric.tagged(mxRetries, "operation", operation)) : Effect.void
  })

const recordAnswer = (operation: string, status: number | "error" | "interrupted", startedAt: number) => {
  const requests = Metric.tagged(Metric.tagged(mxRequests, "operation", operation), "status", String(status))
  return Effect.all([
    Metric.increment(requests),
    Metric.update(Metric.tagged(mxRequestDuration, "operation", operation), (performance.now() - startedAt) / 1000),
    status === 429 ? Metric.increment(Metric.tagged(mxRateLimited, "operation", operation)) : Effect.void
  ], { discard: true })
}

/**
 * An `HttpClient` that records every request to MX: `mx_api_requests` by operation and status,
 * 429s, latency, and retries (a second attempt under the same `MxClient` call span). Install it
 * below the `MxClient` (it then sees every attempt of the client's retries).
 *
 * @since 0.1.0
 * @category mx calls
 */
export const instrumentHttpClient = <E, R>(
  client: HttpClient.HttpClient.With<E, R>
): HttpClient.HttpClient.With<E, R> =>
  HttpClient.transform(client, (response, request: HttpClientRequest.HttpClientRequest) => {
    const operation = operationOf(request.method, request.url)
    return Effect.suspend(() => {
      const startedAt = performance.now()
      return countAttempt(operation).pipe(
        Effect.zipRight(response),
        Effect.onExit((exit) =>
          Exit.match(exit, {
            onSuccess: (answer) => recordAnswer(operation, answer.status, startedAt),
            // Interrupted: the caller stopped waiting (the client's request timeout, or shutdown);
            // the request may well have reached MX, so it counts.
            onFailure: (cause) =>
              recordAnswer(operation, Cause.isInterruptedOnly(cause) ? "interrupted" : "error", startedAt)
          })
        )
      )
    })
  })

/**
 * Replaces the `HttpClient` in context by an instrumented one (`instrumentHttpClient`). Provide it to
 * `MxClient.layer` only, so that other HTTP calls (partner notifications) are not counted as MX calls:
 * `MxClient.layer(options).pipe(Layer.provide(Metrics.layerMxHttpClient))`.
 *
 * @since 0.1.0
 * @category mx calls
 */
export const layerMxHttpClient: Layer.Layer<HttpClient.HttpClient, never, HttpClient.HttpClient> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(HttpClient.HttpClient, instrumentHttpClient)
)

// Backlog gauges

const statusClasses: ReadonlyArray<ConnectionStatus.StatusClass | "None"> = [
  ...ConnectionStatus.StatusClass.literals,
  "None"
]

/**
 * Reads the backlog gauges from the store: active runs, due members, members per status class, open
 * challenges and stored runs per outcome. Every one is a `COUNT` (or `COUNT … GROUP BY`) in the
 * database, so a scrape reads a handful of rows however many members there are. Every label value is
 * set each time (to 0 when absent), so a class that empties does not keep its old count. The store is
 * shared by all replicas: these gauges are database-wide (aggregate them with `max`, not `sum`).
 *
 * @since 0.1.0
 * @category backlog
 */
export const refreshStoreGauges: Effect.Effect<
  void,
  StoreError.StoreError,
  TrackedMembers.TrackedMembers | AggregationRuns.AggregationRuns | PendingChallenges.PendingChallenges
> = Effect.gen(function*() {
  const tracked = yield* TrackedMembers.TrackedMembers
  const runs = yield* AggregationRuns.AggregationRuns
  const pending = yield* PendingChallenges.PendingChallenges
  const now = yield* Clock.currentTimeMillis
  const [active, due, byClass, open, byOutcome] = yield* Effect.all([
    tracked.countActive,
    tracked.countDue(now),
    tracked.countByStatusClass,
    pending.countPending,
    runs.countByOutcome
  ], { concurrency: 1 })
  yield* Metric.set(activeRuns, active)
  yield* Metric.set(dueMembers, due)
  yield* Metric.set(pendingChallenges, open)
  for (const statusClass of statusClasses) {
    const count = byClass.find((c) => (c.statusClass ?? "None") === statusClass)?.count ?? 0
    yield* Metric.set(Metric.tagged(members, "status_class", statusClass), count)
  }
  for (const outcome of [...AggregationRuns.RunOutcome.literals, "unfinished"] as const) {
    const count = byOutcome.find((c) => (c.outcome ?? "unfinished") === outcome)?.count ?? 0
    yield* Metric.set(Metric.tagged(runsByOutcome, "outcome", outcome), count)
  }
})
