import { SqliteClient } from "@effect/sql-sqlite-node"
import { SqlClient } from "@effect/sql/SqlClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Exit, Layer, Redacted } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, Migrations, TestDatabase, TrackedMembers } from "../src/index.js"
import { memberGuid, userGuid } from "./fixtures.js"

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromJson(env))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "mx-db-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const tableNames = Effect.gen(function*() {
  const sql = yield* SqlClient
  const rows = yield* sql.onDialectOrElse({
    pg: () => sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`,
    orElse: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
  })
  return rows.map((row) => row.name).filter((name) => !name.startsWith("sqlite_")).sort()
})

describe("Database.parseUrl", () => {
  it("unset or empty DATABASE_URL means the SQLite file", () => {
    assert.deepStrictEqual(
      Database.parseUrl(undefined),
      Either.right({ _tag: "Sqlite", filename: "./data/mx-aggregation.db" })
    )
    assert.deepStrictEqual(
      Database.parseUrl("  ", "/tmp/x.db"),
      Either.right({ _tag: "Sqlite", filename: "/tmp/x.db" })
    )
    assert.deepStrictEqual(
      Database.parseUrl("sqlite:./elsewhere.db"),
      Either.right({ _tag: "Sqlite", filename: "./elsewhere.db" })
    )
    assert.deepStrictEqual(
      Database.parseUrl("file:///var/lib/mx.db"),
      Either.right({ _tag: "Sqlite", filename: "/var/lib/mx.db" })
    )
  })

  it("postgres:// and postgresql:// mean PostgreSQL, the URL kept Redacted", () => {
    for (const url of ["postgres://u:p@db.example:5432/mx", "postgresql://u:p@db.example/mx", "POSTGRES://h/mx"]) {
      const parsed = Database.parseUrl(url)
      assert(Either.isRight(parsed) && parsed.right._tag === "Pg")
      assert.strictEqual(Redacted.value(parsed.right.url), url)
      assert.notInclude(String(parsed.right.url), "u:p")
    }
    assert.strictEqual(
      Database.describe({ _tag: "Pg", url: Redacted.make("postgres://user:hunter2@db.example:5433/mx") }),
      "PostgreSQL db.example:5433/mx"
    )
    assert.strictEqual(Database.describe({ _tag: "Sqlite", filename: "./data/x.db" }), "SQLite ./data/x.db")
  })

  it("toEnv gives back a DATABASE_URL that parses to the same configuration", () => {
    const configs: ReadonlyArray<Database.DatabaseConfig> = [
      { _tag: "Sqlite", filename: "/tmp/some dir/x.db" },
      { _tag: "Sqlite", filename: "./data/x.db" },
      { _tag: "Pg", url: Redacted.make("postgres://u:p@h:5432/d") }
    ]
    for (const config of configs) {
      const parsed = Database.parseUrl(Database.toEnv(config).DATABASE_URL)
      assert(Either.isRight(parsed))
      assert.strictEqual(Database.describe(parsed.right), Database.describe(config))
    }
  })

  it("anything else is a ConfigError naming DATABASE_URL that never shows the value", () => {
    const cases = [
      ["mysql://root:hunter2@db/mx", "scheme \"mysql:\""],
      ["hunter2", "is not a URL"],
      ["postgres://root:hunter2@/mx", "not a valid postgres:// URL"],
      ["postgres:///mx", "no host"],
      ["sqlite:", "needs a file path"]
    ] as const
    for (const [url, expected] of cases) {
      const parsed = Database.parseUrl(url)
      assert(Either.isLeft(parsed), url)
      const message = String(parsed.left)
      assert.include(message, "DATABASE_URL")
      assert.include(message, expected)
      assert.notInclude(message, "hunter2")
    }
  })
})

describe("Database.config and layerConfig", () => {
  it.effect("reads DATABASE_URL and SQLITE_FILE from the environment", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Database.config.pipe(withEnv({})), {
        _tag: "Sqlite",
        filename: "./data/mx-aggregation.db"
      })
      assert.deepStrictEqual(yield* Database.config.pipe(withEnv({ SQLITE_FILE: "/tmp/a.db", DATABASE_URL: "" })), {
        _tag: "Sqlite",
        filename: "/tmp/a.db"
      })
      const pg = yield* Database.config.pipe(withEnv({ DATABASE_URL: "postgres://u:p@h/d" }))
      assert.strictEqual(pg._tag, "Pg")
    }))

  it.effect("an invalid DATABASE_URL stops layerConfig with a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.provide(SqlClient, Database.layerConfig).pipe(withEnv({ DATABASE_URL: "mysql://root:hunter2@db/mx" }))
      )
      assert(Exit.isFailure(exit))
      const message = String(exit.cause)
      assert.include(message, "DATABASE_URL")
      assert.include(message, "expected postgres:// or postgresql://")
      assert.notInclude(message, "hunter2")
    }))

  it.scoped("with nothing set but SQLITE_FILE, creates the file and its directories, migrates once, keeps data", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "nested", "deeper", "store.db")
      const env = withEnv({ SQLITE_FILE: filename })
      const open = <A, E>(f: Effect.Effect<A, E, SqlClient | TrackedMembers.TrackedMembers>) =>
        f.pipe(Effect.provide(TrackedMembers.layer.pipe(Layer.provideMerge(Database.layerConfig))), env)

      yield* open(
        Effect.flatMap(
          TrackedMembers.TrackedMembers,
          (members) => members.track({ memberGuid: memberGuid("kept"), userGuid: userGuid("kept") })
        )
      )
      const again = yield* open(Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const ran = yield* Migrations.run
        const member = yield* members.get(memberGuid("kept"))
        return { ran, member }
      }))
      assert.deepStrictEqual(again.ran, [], "nothing left to migrate")
      assert.isTrue(again.member._tag === "Some")
    }))

  it.scoped("a file that is not a database fails with a DatabaseError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "not-a-db")
      mkdirSync(filename)
      const error = yield* Effect.flip(Effect.provide(SqlClient, Database.layerSqlite({ filename })))
      assert.strictEqual(error._tag, "DatabaseError")
      assert.strictEqual(error.reason, "ConnectFailed")
      assert.include(error.message, filename)
    }))

  it.scoped("a database whose tables clash with the store's fails with MigrationFailed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "foreign.db")
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient
        yield* sql`CREATE TABLE tracked_members (x INTEGER)`
      }).pipe(Effect.provide(SqliteClient.layer({ filename })))
      const error = yield* Effect.flip(Effect.provide(SqlClient, Database.layerSqlite({ filename })))
      assert.strictEqual(error._tag, "DatabaseError")
      assert.strictEqual(error.reason, "MigrationFailed")
      assert.include(error.message, "tracked_members")
    }))

  it.live("an unreachable PostgreSQL fails with ConnectFailed naming the host, never the password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(SqlClient, Database.layerPg({ url: Redacted.make("postgres://mx:hunter2@127.0.0.1:1/mx") }))
      )
      assert.strictEqual(error.reason, "ConnectFailed")
      assert.include(error.message, "PostgreSQL 127.0.0.1:1/mx")
      assert.notInclude(error.message, "hunter2")
      assert.notInclude(JSON.stringify(error), "hunter2")
    }))
})

describe.each(TestDatabase.kinds)("Migrations on %s", (kind) => {
  layer(TestDatabase.layer(kind))((it) => {
    it.effect("create the store's tables once; running them again does nothing", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* tableNames, [
          "accounts",
          "aggregation_runs",
          "mx_store_migrations",
          "outbox_events",
          "pending_challenges",
          "pull_watermarks",
          "run_observations",
          "tracked_members",
          "transactions"
        ])
        assert.deepStrictEqual(yield* Migrations.run, [])
      }))
  })

  it.scoped("several replicas starting together on a fresh database migrate it once", () =>
    Effect.gen(function*() {
      const config = yield* TestDatabase.fresh(kind)
      const replicas = yield* Effect.all(
        Array.from({ length: 4 }, () => Effect.scoped(Effect.provide(tableNames, Database.layerFrom(config)))),
        { concurrency: "unbounded" }
      )
      for (const tables of replicas) assert.include(tables, "tracked_members")
      const migrations = yield* Effect.gen(function*() {
        const sql = yield* SqlClient
        return yield* sql`SELECT migration_id FROM mx_store_migrations`
      }).pipe(Effect.provide(Database.layerFrom(config)))
      // Each migration recorded exactly once.
      assert.strictEqual(migrations.length, Object.keys(Migrations.migrations).length)
    }))
})
