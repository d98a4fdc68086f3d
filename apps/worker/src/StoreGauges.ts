/**
 * The backlog gauges of the worker, read from the store at each scrape: runs in flight, members due,
 * members per status class, open challenges and stored runs per outcome. Each is a `COUNT` (or
 * `COUNT … GROUP BY`) in the database, so a scrape reads a handful of rows however many members there
 * are. The store is shared by all replicas: these gauges are database-wide (aggregate them with
 * `max`, not `sum`).
 *
 * @since 0.1.0
 */
import { ConnectionStatus } from "@mx-aggregation/domain"
import { AggregationRuns, PendingChallenges, type StoreError, TrackedMembers } from "@mx-aggregation/store"
import { Clock, Effect, Layer, Metric } from "effect"
import { EngineConfig } from "./EngineConfig.js"
import { Prometheus } from "./MetricsEndpoint.js"
import * as MxTime from "./MxTime.js"

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
export const refresh: Effect.Effect<
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

/**
 * Refreshes the backlog gauges of `refresh` from the store before every scrape,
 * on the engine's MX clock (so that "due" means what the scheduler means).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  | Prometheus
  | EngineConfig
  | TrackedMembers.TrackedMembers
  | AggregationRuns.AggregationRuns
  | PendingChallenges.PendingChallenges
> = Layer.scopedDiscard(Effect.gen(function*() {
  const prometheus = yield* Prometheus
  const config = yield* EngineConfig
  const context = yield* Effect.context<
    TrackedMembers.TrackedMembers | AggregationRuns.AggregationRuns | PendingChallenges.PendingChallenges
  >()
  yield* prometheus.addCollector(
    refresh.pipe(MxTime.within(config.mxClock), Effect.provide(context))
  )
}))
