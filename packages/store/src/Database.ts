/**
 * The database the store and the worker's workflow engine share: an SQLite file by default, or
 * PostgreSQL when `DATABASE_URL` points at one. Every layer here provides `SqlClient.SqlClient` and has
 * run the store's migrations before anything uses it.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { make as makeSqlClient, SqlClient } from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import {
  Chunk,
  Config,
  ConfigError,
  Context,
  Effect,
  Either,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema,
  Stream
} from "effect"
import { mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"
import * as Migrations from "./Migrations.js"

/**
 * Where the store lives.
 *
 * @since 0.1.0
 * @category models
 */
export type DatabaseConfig =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Pg"; readonly url: Redacted.Redacted<string> }

/**
 * The SQLite file used when nothing is configured.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSqliteFile = "./data/mx-aggregation.db"

/**
 * Opening the database or migrating it failed. `reason` is `ConnectFailed` (the file cannot be
 * created or opened, the server is unreachable or refuses the login) or `MigrationFailed`.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  reason: Schema.Literal("ConnectFailed", "MigrationFailed"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** The messages along an error's cause chain, e.g. "Migration failed: Failed to execute statement: table x exists". */
const causeMessage = (cause: unknown): string => {
  const messages: Array<string> = []
  let current: unknown = cause
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const message = current instanceof Error || (typeof current === "object" && "message" in current)
      ? String((current as { readonly message: unknown }).message)
      : String(current)
    if (message !== "" && !messages.includes(message)) messages.push(message)
    current = typeof current === "object" ? (current as { readonly cause?: unknown }).cause : undefined
  }
  return messages.join(": ")
}

/**
 * Reads `DATABASE_URL` as a `DatabaseConfig`: unset or empty means the SQLite file (`SQLITE_FILE`,
 * default `./data/mx-aggregation.db`); `postgres://` or `postgresql://` means PostgreSQL;
 * `sqlite:<path>` or `file:<path>` names an SQLite file. Anything else fails with a `ConfigError`
 * naming `DATABASE_URL`; the message never repeats the value, which may hold a password.
 *
 * @since 0.1.0
 * @category config
 */
export const parseUrl = (
  url: string | undefined,
  sqliteFile: string = defaultSqliteFile
): Either.Either<DatabaseConfig, ConfigError.ConfigError> => {
  const invalid = (message: string) => Either.left(ConfigError.InvalidData(["DATABASE_URL"], message))
  const value = url?.trim() ?? ""
  if (value === "") return Either.right({ _tag: "Sqlite", filename: sqliteFile })
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase()
  if (scheme === "sqlite" || scheme === "file") {
    const filename = value.slice(scheme.length + 1).replace(/^\/\/(?=\/)/, "")
    return filename === ""
      ? invalid(`DATABASE_URL: "${scheme}:" needs a file path, e.g. sqlite:./data/mx-aggregation.db`)
      : Either.right({ _tag: "Sqlite", filename })
  }
  if (scheme !== "postgres" && scheme !== "postgresql") {
    return invalid(
      scheme === undefined
        ? "DATABASE_URL is not a URL: expected postgres://user:password@host:port/database, or unset for the SQLite file"
        : `DATABASE_URL has the scheme "${scheme}:": expected postgres:// or postgresql://, or unset for the SQLite file`
    )
  }
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    return invalid("DATABASE_URL is not a valid postgres:// URL (value not shown: it may hold a password)")
  }
  if (parsed.hostname === "") {
    return invalid("DATABASE_URL has no host: expected postgres://user:password@host:port/database")
  }
  return Either.right({ _tag: "Pg", url: Redacted.make(value) })
}

/**
 * The database configuration from the environment (`DATABASE_URL`, `SQLITE_FILE`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<DatabaseConfig> = Config.all({
  url: Config.option(Config.redacted("DATABASE_URL")),
  sqliteFile: Config.string("SQLITE_FILE").pipe(
    Config.withDefault(defaultSqliteFile),
    Config.map((file) => (file.trim() === "" ? defaultSqliteFile : file))
  )
}).pipe(
  Config.mapOrFail(({ sqliteFile, url }) =>
    parseUrl(Option.match(url, { onNone: () => undefined, onSome: Redacted.value }), sqliteFile)
  )
)

/**
 * The environment that selects this database (for a child process, e.g. a worker started by a test):
 * `DATABASE_URL` as `sqlite:<path>` or the PostgreSQL URL. It holds the password in clear text: pass
 * it to a process, never log it.
 *
 * @since 0.1.0
 * @category config
 */
export const toEnv = (config: DatabaseConfig): { readonly DATABASE_URL: string } => ({
  DATABASE_URL: config._tag === "Sqlite" ? `sqlite:${config.filename}` : Redacted.value(config.url)
})

/**
 * A description safe to log: the SQLite path, or PostgreSQL's host, port and database (no user, no
 * password).
 *
 * @since 0.1.0
 * @category config
 */
export const describe = (config: DatabaseConfig): string => {
  if (config._tag === "Sqlite") return `SQLite ${config.filename}`
  try {
    const url = new URL(Redacted.value(config.url))
    return `PostgreSQL ${url.hostname}${url.port === "" ? "" : `:${url.port}`}${url.pathname}`
  } catch {
    return "PostgreSQL"
  }
}

/** A real-time pause: lock contention between processes does not follow the Effect clock (or a TestClock). */
const pause = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

class MigrationIncomplete {
  readonly _tag = "MigrationIncomplete"
  constructor(readonly message: string) {}
}

/**
 * Runs the migrations until the database has all of them. Several processes may start on one fresh
 * database at once (worker replicas on PostgreSQL; the daemon and the CLI on one SQLite file): the
 * Migrator then fails to create its table (PostgreSQL) or gives way to the process that is migrating
 * and returns early (SQLite), so the tables may not exist yet. So check that the latest migration is
 * recorded: if not, another process is migrating: wait for it (up to a minute). A failure is retried
 * a few times (the other process may have created a table under us), then reported.
 */
const migrate = (client: SqlClient) => {
  const applied = client<{ readonly id: number | string | null }>`SELECT MAX(migration_id) AS id FROM ${
    client(Migrations.table)
  }`.pipe(Effect.map((rows) => Number(rows[0]?.id ?? 0)))
  const attempt = Migrations.run.pipe(
    Effect.zipRight(applied),
    Effect.filterOrFail(
      (id) => id >= Migrations.latestId,
      (id) => new MigrationIncomplete(`the database is at migration ${id}, expected ${Migrations.latestId}`)
    ),
    Effect.provideService(SqlClient, client),
    // A migration that throws is a defect inside the Migrator; treat it as the same failure.
    Effect.catchAllDefect(Effect.fail)
  )
  const loop = (failuresLeft: number, waitsLeft: number): Effect.Effect<void, DatabaseError> =>
    attempt.pipe(
      Effect.asVoid,
      Effect.catchAll((cause) => {
        const incomplete = cause instanceof MigrationIncomplete
        if (incomplete ? waitsLeft > 1 : failuresLeft > 1) {
          return Effect.zipRight(
            pause(incomplete ? 100 : 50),
            loop(incomplete ? failuresLeft : failuresLeft - 1, incomplete ? waitsLeft - 1 : waitsLeft)
          )
        }
        return Effect.fail(
          new DatabaseError({
            reason: "MigrationFailed",
            message: `Migrating the store failed: ${causeMessage(cause)}`,
            cause
          })
        )
      })
    )
  return loop(5, 600)
}

const isFileName = (filename: string) => filename !== ":memory:" && filename !== ""

/**
 * Opens (creating it and its directory if missing) an SQLite file, turns on WAL with
 * `synchronous = NORMAL` (durable across a process kill, much faster than FULL) and a busy timeout
 * (another process, such as the CLI, may hold the write lock briefly), then migrates.
 * Provides `SqlClient.SqlClient` and `SqliteClient.SqliteClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (options: {
  readonly filename: string
}): Layer.Layer<SqlClient | SqliteClient.SqliteClient, DatabaseError> =>
  Layer.scopedContext(Effect.gen(function*() {
    const filename = isFileName(options.filename) ? resolve(options.filename) : options.filename
    const connectFailed = (cause: unknown) =>
      new DatabaseError({
        reason: "ConnectFailed",
        message: `Cannot open the SQLite database ${filename}: ${causeMessage(cause)}`,
        cause
      })
    if (isFileName(filename)) {
      yield* Effect.try({ try: () => mkdirSync(dirname(filename), { recursive: true }), catch: connectFailed })
    }
    const client = yield* SqliteClient.make({ filename }).pipe(
      // better-sqlite3 throws from its constructor (a directory, a file that is not a database…).
      Effect.catchAllDefect((defect) => Effect.fail(connectFailed(defect)))
    )
    yield* Effect.all([
      client`PRAGMA busy_timeout = 5000`,
      client`PRAGMA synchronous = NORMAL`
    ], { discard: true }).pipe(Effect.mapError(connectFailed))
    yield* migrate(client)
    return Context.make(SqliteClient.SqliteClient, client).pipe(Context.add(SqlClient, client))
  })).pipe(Layer.provide(Reactivity.layer))

/**
 * How long a statement of `layerWaitingForConnection` waits for PostgreSQL to accept connections
 * again: retries 100 ms apart at first, then up to 2 s apart, for 5 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const connectionWait: Schedule.Schedule<unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("2 seconds")),
  Schedule.upTo("5 minutes")
)

/**
 * @effect/sql-pg's message when the pool could not open a connection (the server refused it, was
 * starting up, or dropped it while connecting): nothing was sent, so trying again is safe.
 */
const notConnected = (error: SqlError): boolean => error.message.startsWith("Failed to acquire connection")

/** `effect` tried again while PostgreSQL cannot be connected to, for `connectionWait`. */
const waitingForConnection = <A, R>(effect: Effect.Effect<A, SqlError, R>) =>
  Effect.retry(effect, { schedule: connectionWait, while: notConnected })

/**
 * On PostgreSQL, a `SqlClient` over the same pool whose statements wait for a connection while the
 * server is unreachable (stopped, restarting, starting up) instead of failing at once; a statement
 * that fails once it is sent still fails. On SQLite, the client itself.
 *
 * The workflow engine's message storage uses it: @effect/cluster gives up storing an activity's result
 * after four tries 200 ms apart and never delivers that activity again while the process lives, so
 * a restart of PostgreSQL longer than that would leave the run waiting forever. Only connecting is
 * retried, so no statement runs twice. Statements go through the pool's own client (which releases
 * its connection when the fiber is interrupted), not through `reserve`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWaitingForConnection: Layer.Layer<SqlClient, never, SqlClient> = Layer.effect(
  SqlClient,
  Effect.gen(function*() {
    const client = yield* SqlClient
    if (Option.isNone(yield* Effect.serviceOption(PgClient.PgClient))) return client
    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        waitingForConnection(client.unsafe(sql, params)).pipe(
          Effect.map((rows) => transformRows === undefined ? rows : transformRows(rows))
        ),
      executeRaw: (sql, params) => waitingForConnection(client.unsafe(sql, params).raw),
      executeValues: (sql, params) => waitingForConnection(client.unsafe(sql, params).values),
      executeUnprepared: (sql, params, transformRows) =>
        waitingForConnection(client.unsafe(sql, params).unprepared).pipe(
          Effect.map((rows) => transformRows === undefined ? rows : transformRows(rows))
        ),
      executeStream: (sql, params, transformRows) => {
        const rows = client.unsafe(sql, params).stream
        return transformRows === undefined
          ? rows
          : Stream.mapChunks(rows, (chunk) => Chunk.unsafeFromArray(transformRows(Chunk.toReadonlyArray(chunk))))
      }
    }
    return yield* makeSqlClient({
      acquirer: Effect.succeed(connection),
      transactionAcquirer: waitingForConnection(client.reserve),
      compiler: PgClient.makeCompiler(),
      spanAttributes: [["db.system.name", "postgresql"]]
    })
  })
).pipe(Layer.provide(Reactivity.layer))

/**
 * Connects a pool to PostgreSQL, then migrates. Provides `SqlClient.SqlClient` and `PgClient.PgClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (options: {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
}): Layer.Layer<SqlClient | PgClient.PgClient, DatabaseError> =>
  Layer.scopedContext(Effect.gen(function*() {
    const where = describe({ _tag: "Pg", url: options.url })
    const client = yield* PgClient.make({
      url: options.url,
      maxConnections: options.maxConnections,
      applicationName: options.applicationName ?? "mx-aggregation"
    }).pipe(
      Effect.mapError((cause) =>
        new DatabaseError({
          reason: "ConnectFailed",
          message: `Cannot connect to ${where}: ${causeMessage(cause)}`,
          cause
        })
      )
    )
    yield* migrate(client)
    return Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient, client))
  })).pipe(Layer.provide(Reactivity.layer))

/**
 * The layer for a `DatabaseConfig`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = (config: DatabaseConfig): Layer.Layer<SqlClient, DatabaseError> =>
  config._tag === "Sqlite" ? layerSqlite(config) : layerPg(config)

/**
 * The database chosen by the environment (see `config`), migrated.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<SqlClient, DatabaseError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(config, layerFrom)
)
