/**
 * The journal of aggregation runs: why each started, every status it observed and when, how it ended,
 * how many MX calls it made and how many list rows from MX it left out because they did not decode. One run is one pass of the worker's aggregation workflow for a member.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { ConnectionStatus, Member, RunOutcome as RunOutcomes } from "@mx-aggregation/domain"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { column, DbInt, Millis, nullableColumn } from "./internal/columns.js"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * A run id. The worker uses its workflow execution id, so a retried activity finds the same run.
 *
 * @since 0.1.0
 * @category ids
 */
export const RunId = Schema.NonEmptyTrimmedString.pipe(Schema.brand("RunId"))

/**
 * @since 0.1.0
 * @category ids
 */
export type RunId = typeof RunId.Type

/**
 * Why a run started: the domain's `RunOutcome.RunReason`, as stored.
 *
 * @since 0.1.0
 * @category models
 */
export const RunReason = RunOutcomes.RunReason

/**
 * @since 0.1.0
 * @category models
 */
export type RunReason = RunOutcomes.RunReason

/**
 * How a run ended: the domain's `RunOutcome.RunOutcome`, as stored.
 *
 * @since 0.1.0
 * @category models
 */
export const RunOutcome = RunOutcomes.RunOutcome

/**
 * @since 0.1.0
 * @category models
 */
export type RunOutcome = RunOutcomes.RunOutcome

/**
 * A run as stored. Times are epoch milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export class AggregationRun extends Schema.Class<AggregationRun>("AggregationRun")({
  runId: column(RunId, "run_id"),
  memberGuid: column(Member.MemberGuid, "member_guid"),
  reason: RunReason,
  startedAt: column(Millis, "started_at"),
  endedAt: nullableColumn(Millis, "ended_at"),
  outcome: Schema.NullOr(RunOutcome),
  failureReason: nullableColumn(Schema.String, "failure_reason"),
  mxCalls: column(DbInt, "mx_calls"),
  /** List rows MX sent that did not decode, left out of what the run stored. */
  rowsSkipped: column(DbInt, "rows_skipped")
}) {}

/**
 * One status a run observed, with when.
 *
 * @since 0.1.0
 * @category models
 */
export class RunObservation extends Schema.Class<RunObservation>("RunObservation")({
  status: column(ConnectionStatus.NullableReportedStatus, "connection_status"),
  observedAt: column(Millis, "observed_at")
}) {}

/**
 * A run with the statuses it observed, oldest first.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunWithObservations {
  readonly run: AggregationRun
  readonly observations: ReadonlyArray<RunObservation>
}

/**
 * The aggregation-runs repository.
 *
 * @since 0.1.0
 * @category models
 */
export interface AggregationRunsService {
  /**
   * Records that a run started. Idempotent: starting a run id again returns the stored run unchanged
   * (a retried activity after a crash).
   */
  readonly start: (input: {
    readonly runId: RunId
    readonly memberGuid: Member.MemberGuid
    readonly reason: RunReason
    readonly startedAt?: number | undefined
  }) => Effect.Effect<AggregationRun, StoreError>
  /** Appends an observed status to the run. */
  readonly observe: (
    runId: RunId,
    status: ConnectionStatus.NullableReportedStatus,
    observedAt?: number
  ) => Effect.Effect<void, StoreError>
  /** Adds to the run's count of MX calls. */
  readonly addMxCalls: (runId: RunId, calls: number) => Effect.Effect<void, StoreError>
  /** Adds to the run's count of list rows left out because they did not decode. */
  readonly addRowsSkipped: (runId: RunId, rows: number) => Effect.Effect<void, StoreError>
  /**
   * Records how the run ended (and adds `mxCalls`, if given). A run ends once: finishing an ended run
   * changes nothing and returns `false`.
   */
  readonly finish: (input: {
    readonly runId: RunId
    readonly outcome: RunOutcome
    readonly failureReason?: string | null | undefined
    readonly mxCalls?: number | undefined
    readonly endedAt?: number | undefined
  }) => Effect.Effect<boolean, StoreError>
  readonly get: (runId: RunId) => Effect.Effect<Option.Option<RunWithObservations>, StoreError>
  /** The member's runs, most recent first. */
  readonly listByMember: (
    memberGuid: Member.MemberGuid,
    options?: { readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<AggregationRun>, StoreError>
  /** Recent runs of all members, most recent first, optionally of one outcome or only unfinished. */
  readonly listRecent: (options?: {
    readonly limit?: number | undefined
    readonly outcome?: RunOutcome | undefined
    readonly unfinished?: boolean | undefined
  }) => Effect.Effect<ReadonlyArray<AggregationRun>, StoreError>
  /** How many runs ended with each outcome (unfinished runs under `null`). */
  readonly countByOutcome: Effect.Effect<
    ReadonlyArray<{ readonly outcome: RunOutcome | null; readonly count: number }>,
    StoreError
  >
}

/**
 * The aggregation-runs repository.
 *
 * @since 0.1.0
 * @category tags
 */
export class AggregationRuns
  extends Context.Tag("@mx-aggregation/store/AggregationRuns")<AggregationRuns, AggregationRunsService>()
{}

const decodeRuns = Schema.decodeUnknown(Schema.Array(AggregationRun))
const decodeObservations = Schema.decodeUnknown(Schema.Array(RunObservation))
const decodeOutcomeCounts = Schema.decodeUnknown(Schema.Array(Schema.Struct({
  outcome: Schema.NullOr(RunOutcome),
  count: column(DbInt, "n")
})))

/**
 * Builds the repository over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<AggregationRunsService, never, SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient

  const selectRun = (runId: RunId) =>
    sql`SELECT * FROM aggregation_runs WHERE run_id = ${runId}`.pipe(
      Effect.flatMap(decodeRuns),
      Effect.map((runs) => Option.fromNullable(runs[0]))
    )

  const start: AggregationRunsService["start"] = (input) =>
    Effect.gen(function*() {
      const startedAt = input.startedAt ?? (yield* Clock.currentTimeMillis)
      yield* sql`INSERT INTO aggregation_runs ${
        sql.insert({
          run_id: input.runId,
          member_guid: input.memberGuid,
          reason: input.reason,
          started_at: startedAt,
          mx_calls: 0
        })
      } ON CONFLICT (run_id) DO NOTHING`
      const run = yield* selectRun(input.runId)
      return yield* Option.match(run, {
        onNone: () => Effect.dieMessage(`AggregationRuns.start: ${input.runId} missing after its insert`),
        onSome: Effect.succeed
      })
    }).pipe(sql.withTransaction, operation("AggregationRuns.start"))

  const observe: AggregationRunsService["observe"] = (runId, status, observedAt) =>
    Effect.gen(function*() {
      const at = observedAt ?? (yield* Clock.currentTimeMillis)
      yield* sql`INSERT INTO run_observations ${
        sql.insert({ run_id: runId, connection_status: status, observed_at: at })
      }`
    }).pipe(operation("AggregationRuns.observe"))

  const addMxCalls: AggregationRunsService["addMxCalls"] = (runId, calls) =>
    sql`UPDATE aggregation_runs SET mx_calls = mx_calls + ${calls} WHERE run_id = ${runId}`.pipe(
      Effect.asVoid,
      operation("AggregationRuns.addMxCalls")
    )

  const addRowsSkipped: AggregationRunsService["addRowsSkipped"] = (runId, rows) =>
    sql`UPDATE aggregation_runs SET rows_skipped = rows_skipped + ${rows} WHERE run_id = ${runId}`.pipe(
      Effect.asVoid,
      operation("AggregationRuns.addRowsSkipped")
    )

  const finish: AggregationRunsService["finish"] = (input) =>
    Effect.gen(function*() {
      const endedAt = input.endedAt ?? (yield* Clock.currentTimeMillis)
      const rows = yield* sql`UPDATE aggregation_runs SET
          ended_at = ${endedAt},
          outcome = ${input.outcome},
          failure_reason = ${input.failureReason ?? null},
          mx_calls = mx_calls + ${input.mxCalls ?? 0}
        WHERE run_id = ${input.runId} AND ended_at IS NULL RETURNING run_id`
      return rows.length > 0
    }).pipe(operation("AggregationRuns.finish"))

  const get: AggregationRunsService["get"] = (runId) =>
    Effect.gen(function*() {
      const run = yield* selectRun(runId)
      if (Option.isNone(run)) return Option.none()
      const observations = yield* sql`SELECT connection_status, observed_at FROM run_observations
        WHERE run_id = ${runId} ORDER BY id`.pipe(Effect.flatMap(decodeObservations))
      return Option.some({ run: run.value, observations })
    }).pipe(operation("AggregationRuns.get"))

  const listByMember: AggregationRunsService["listByMember"] = (memberGuid, options) =>
    sql`SELECT * FROM aggregation_runs WHERE member_guid = ${memberGuid}
      ORDER BY started_at DESC, run_id DESC LIMIT ${options?.limit ?? 100}`.pipe(
      Effect.flatMap(decodeRuns),
      operation("AggregationRuns.listByMember")
    )

  const listRecent: AggregationRunsService["listRecent"] = (options) => {
    const filters = [
      ...(options?.outcome === undefined ? [] : [sql`outcome = ${options.outcome}`]),
      ...(options?.unfinished === true ? [sql`ended_at IS NULL`] : [])
    ]
    return sql`SELECT * FROM aggregation_runs WHERE ${sql.and(filters)}
      ORDER BY started_at DESC, run_id DESC LIMIT ${options?.limit ?? 100}`.pipe(
      Effect.flatMap(decodeRuns),
      operation("AggregationRuns.listRecent")
    )
  }

  const countByOutcome = sql`SELECT outcome, COUNT(*) AS n FROM aggregation_runs GROUP BY outcome ORDER BY outcome`
    .pipe(Effect.flatMap(decodeOutcomeCounts), operation("AggregationRuns.countByOutcome"))

  return AggregationRuns.of({
    start,
    observe,
    addMxCalls,
    addRowsSkipped,
    finish,
    get,
    listByMember,
    listRecent,
    countByOutcome
  })
})

/**
 * The repository, over the `SqlClient` in context (migrated by a `Database` layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AggregationRuns, never, SqlClient> = Layer.effect(AggregationRuns, make)
