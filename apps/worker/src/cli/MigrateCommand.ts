/**
 * `mx-aggregation migrate`: brings the store's database (`DATABASE_URL`, or the SQLite file
 * `SQLITE_FILE`, default `./data/mx-aggregation.db`) to the latest schema and prints the migrations
 * it holds, with when each was applied. Safe to run while workers run: the store waits for another
 * process that is migrating.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { SqlClient } from "@effect/sql/SqlClient"
import type { Database } from "@mx-aggregation/store"
import { Effect, Schema } from "effect"
import * as Output from "./Output.js"
import { failed } from "./WorkerCommand.js"

/**
 * One applied migration.
 *
 * @since 0.1.0
 * @category models
 */
export class AppliedMigration extends Schema.Class<AppliedMigration>("AppliedMigration")({
  id: Schema.Number,
  name: Schema.String,
  appliedAt: Schema.String
}) {}

/**
 * What `migrate` reports.
 *
 * @since 0.1.0
 * @category models
 */
export class MigrationReport extends Schema.Class<MigrationReport>("MigrationReport")({
  database: Schema.String,
  latest: Schema.Number,
  migrations: Schema.Array(AppliedMigration)
}) {}

const timestamp = (value: unknown): string => {
  if (value instanceof Date) return value.toISOString()
  const text = String(value)
  // SQLite's CURRENT_TIMESTAMP: "YYYY-MM-DD HH:MM:SS" in UTC.
  const parsed = Date.parse(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(text) ? `${text.replace(" ", "T")}Z` : text)
  return Number.isNaN(parsed) ? text : new Date(parsed).toISOString()
}

/**
 * Migrates the configured database and reads back what it holds.
 *
 * @since 0.1.0
 * @category effects
 */
export const migrate = Effect.gen(function*() {
  // Loaded on use, like the other commands that need more than the control API's client.
  const { Database, Migrations } = yield* Effect.promise(() => import("@mx-aggregation/store"))
  const config: Database.DatabaseConfig = yield* Database.config
  const rows = yield* Effect.flatMap(
    SqlClient,
    (sql) =>
      sql<{ readonly migration_id: number | string; readonly name: string; readonly created_at: unknown }>`
      SELECT migration_id, name, created_at FROM ${sql(Migrations.table)} ORDER BY migration_id`
  ).pipe(
    Effect.provide(Database.layerFrom(config))
  )
  return new MigrationReport({
    database: Database.describe(config),
    latest: Migrations.latestId,
    migrations: rows.map((row) =>
      new AppliedMigration({ id: Number(row.migration_id), name: row.name, appliedAt: timestamp(row.created_at) })
    )
  })
})

/**
 * The report for people.
 *
 * @since 0.1.0
 * @category formatting
 */
export const reportText = (report: MigrationReport): string =>
  [
    `${report.database}: schema at migration ${Math.max(0, ...report.migrations.map((m) => m.id))} ` +
    `(latest ${report.latest}), up to date.`,
    Output.table(["MIGRATION", "NAME", "APPLIED"], report.migrations.map((m) => [String(m.id), m.name, m.appliedAt]))
  ].join("\n")

/**
 * `migrate [--json]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "migrate",
  { json: Output.jsonOption },
  (options) =>
    migrate.pipe(
      Effect.mapError(failed("Migration failed")),
      Effect.flatMap((report) => Output.print(options, MigrationReport, report, reportText))
    )
).pipe(Command.withDescription("Migrate the store's database (DATABASE_URL or SQLITE_FILE) to the latest schema"))
