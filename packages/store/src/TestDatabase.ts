/**
 * Fresh databases for tests, on either dialect: a new SQLite file in a temporary directory, or a new
 * database (`CREATE DATABASE` with a unique name) on the PostgreSQL server named by `PG_URL` (or a
 * PostgreSQL `DATABASE_URL`). Each suite gets its own, so test files run concurrently; both are
 * removed when the scope closes. The repository's vitest `globalSetup` (`test/support/embeddedPostgres.ts`)
 * starts an embedded PostgreSQL and sets `PG_URL`.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Config, ConfigError, Effect, Either, Layer, Option, Redacted, type Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Database from "./Database.js"

/**
 * The two dialects every store test runs on.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "sqlite" | "pg"

/**
 * Both kinds, for `describe.each`.
 *
 * @since 0.1.0
 * @category constants
 */
export const kinds: ReadonlyArray<Kind> = ["sqlite", "pg"]

/**
 * The admin URL of the test PostgreSQL server: `PG_URL`, else a PostgreSQL `DATABASE_URL`.
 *
 * @since 0.1.0
 * @category config
 */
export const pgUrl: Config.Config<Redacted.Redacted<string>> = Config.all({
  pg: Config.option(Config.redacted("PG_URL")),
  database: Config.option(Config.redacted("DATABASE_URL"))
}).pipe(
  Config.mapOrFail(({ database, pg }) => {
    if (Option.isSome(pg) && Redacted.value(pg.value) !== "") return Either.right(pg.value)
    if (Option.isSome(database) && /^postgres(ql)?:\/\//i.test(Redacted.value(database.value))) {
      return Either.right(database.value)
    }
    return Either.left(ConfigError.MissingData(
      ["PG_URL"],
      "PG_URL is not set: run the tests with vitest, whose globalSetup (test/support/embeddedPostgres.ts) starts PostgreSQL, or set PG_URL"
    ))
  })
)

let counter = 0
const uniqueName = () => `mx_test_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`

const withAdmin = <A, E>(url: Redacted.Redacted<string>, f: (sql: SqlClient) => Effect.Effect<A, E>) =>
  Effect.flatMap(SqlClient, f).pipe(Effect.provide(PgClient.layer({ url, maxConnections: 1 })))

/**
 * Creates a fresh, empty database of the given kind and returns its configuration; it is dropped
 * (PostgreSQL) or deleted (SQLite) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fresh = (
  kind: Kind
): Effect.Effect<Database.DatabaseConfig, ConfigError.ConfigError | SqlError, Scope.Scope> => {
  if (kind === "sqlite") {
    return Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "mx-store-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ).pipe(Effect.map((dir): Database.DatabaseConfig => ({ _tag: "Sqlite", filename: join(dir, "store.db") })))
  }
  return Effect.gen(function*() {
    const admin = yield* pgUrl
    const name = uniqueName()
    yield* Effect.acquireRelease(
      withAdmin(admin, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)),
      () => withAdmin(admin, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).pipe(Effect.ignore)
    )
    const url = new URL(Redacted.value(admin))
    url.pathname = `/${name}`
    return { _tag: "Pg", url: Redacted.make(url.toString()) } satisfies Database.DatabaseConfig
  })
}

/**
 * A fresh, migrated database of the given kind, providing `SqlClient.SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  kind: Kind
): Layer.Layer<SqlClient, ConfigError.ConfigError | SqlError | Database.DatabaseError> =>
  Layer.unwrapScoped(Effect.map(fresh(kind), Database.layerFrom))
