/**
 * When a worker phase is done, read from the worker's database (SQLite or PostgreSQL alike): how many
 * members finished (one cheap query, polled), what is left unfinished when a phase times out, and the
 * checks made after the clock stopped (each member's data pulled after its last aggregation, run
 * outcomes, outbox events).
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import {
  AccountsAndTransactions,
  AggregationRuns,
  Outbox,
  PendingChallenges,
  TrackedMembers
} from "@mx-aggregation/store"
import { Effect, Option } from "effect"

/**
 * Tracked members, and those finished: no active run, CONNECTED, not aggregating, last action PullData.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly done: number
  readonly tracked: number
}

/**
 * One cheap aggregate query over the store's table (the driver must not load the worker: decoding
 * 1,000 rows every 100 ms would show up as worker CPU).
 *
 * @since 0.1.0
 * @category queries
 */
export const progress = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly tracked: number | string; readonly done: number | string | null }>`
    SELECT COUNT(*) AS tracked,
      SUM(CASE WHEN active_run_id IS NULL AND connection_status = 'CONNECTED' AND is_being_aggregated = 0
        AND next_action = 'PullData' THEN 1 ELSE 0 END) AS done
    FROM tracked_members WHERE tracked = 1`
  const row = rows[0]
  return { done: Number(row?.done ?? 0), tracked: Number(row?.tracked ?? 0) } as Progress
})

/**
 * What is unfinished, grouped, with one sample run's observations per group.
 *
 * @since 0.1.0
 * @category queries
 */
export const describeStuck = Effect.gen(function*() {
  const tracked = yield* TrackedMembers.TrackedMembers
  const runs = yield* AggregationRuns.AggregationRuns
  const pending = yield* PendingChallenges.PendingChallenges
  const rows = yield* tracked.list()
  const groups = new Map<string, Array<TrackedMembers.TrackedMember>>()
  for (const m of rows) {
    if (m.activeRunId === null && m.status === "CONNECTED" && m.nextAction === "PullData") continue
    const key = `status=${m.status ?? "null"} aggregating=${m.isBeingAggregated} run=${
      m.activeRunId === null ? "none" : "active"
    } next=${m.nextAction ?? "none"} failures=${m.consecutiveFailures}`
    groups.set(key, [...(groups.get(key) ?? []), m])
  }
  const lines: Array<string> = []
  for (const [key, members] of groups) {
    lines.push(`${members.length} member(s): ${key}`)
    const sample = members[0]!
    if (sample.activeRunId !== null) {
      const run = yield* runs.get(sample.activeRunId)
      if (Option.isSome(run)) {
        const r = run.value
        lines.push(
          `  e.g. ${sample.memberGuid} run ${r.run.runId}: started ${new Date(r.run.startedAt).toISOString()}, ` +
            `${r.run.mxCalls} MX calls, observed ${r.observations.map((o) => o.status ?? "null").join(" > ")}`
        )
      }
    }
  }
  lines.push(`open challenges: ${(yield* pending.listPending()).length}`)
  const outcomes = yield* runs.countByOutcome
  lines.push(`runs by outcome: ${outcomes.map((o) => `${o.outcome ?? "running"}=${o.count}`).join(", ")}`)
  return lines
})

/**
 * The checks made after the clock stopped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verified {
  /** Members whose data was pulled after their last successful aggregation (watermark). */
  readonly pulled: number
  readonly totals: { readonly accounts: number; readonly transactions: number }
  /** Runs by outcome (`running` for those without one). */
  readonly outcomes: Readonly<Record<string, number>>
  /** Outbox events written (-1 when they could not be read). */
  readonly events: number
}

/**
 * Checks that every member's data is in the store and counts run outcomes and outbox events.
 *
 * @since 0.1.0
 * @category queries
 */
export const verify = Effect.gen(function*() {
  const data = yield* AccountsAndTransactions.AccountsAndTransactions
  const tracked = yield* TrackedMembers.TrackedMembers
  let pulled = 0
  for (const m of yield* tracked.list()) {
    const watermark = yield* data.watermark(m.memberGuid)
    if (
      Option.isSome(watermark) && m.successfullyAggregatedAt !== null &&
      watermark.value.lastPulledAt >= m.successfullyAggregatedAt
    ) pulled++
  }
  const totals = yield* data.totals
  const outcomes = yield* (yield* AggregationRuns.AggregationRuns).countByOutcome
  const events = yield* (yield* Outbox.Outbox).undelivered({ limit: 1_000_000 }).pipe(
    Effect.map((rows) => rows.length),
    Effect.orElseSucceed(() => -1)
  )
  return {
    pulled,
    totals,
    outcomes: Object.fromEntries(outcomes.map((o) => [o.outcome ?? "running", o.count])),
    events
  } satisfies Verified
})

/**
 * The lines a report prints about the checks.
 *
 * @since 0.1.0
 * @category formatting
 */
export const notes = (members: number, verified: Verified): ReadonlyArray<string> => [
  `data pulled after the last aggregation: ${verified.pulled}/${members} members ` +
  `(${verified.totals.accounts} accounts, ${verified.totals.transactions} transactions stored)`,
  ...(verified.events >= 0 ? [`outbox events written: ${verified.events}`] : [])
]
