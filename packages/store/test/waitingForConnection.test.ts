/**
 * `Database.layerWaitingForConnection`: while PostgreSQL refuses connections, its statements wait and
 * run once the server is back; the plain client fails at once. The server is reached through a TCP
 * relay on 127.0.0.1 that the test turns off (every new connection is dropped) and on again.
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { Database, TestDatabase } from "../src/index.js"

interface Relay {
  readonly port: number
  /** Drops the open connections and every new one until `up`. */
  readonly down: Effect.Effect<void>
  readonly up: Effect.Effect<void>
  /** Connections dropped while down. */
  readonly dropped: () => number
}

const relay = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly relay: Relay; readonly server: Server }>((resume) => {
      let open = true
      let dropped = 0
      const sockets = new Set<Socket>()
      const server = createServer((client) => {
        if (!open) {
          dropped++
          client.destroy()
          return
        }
        const upstream = createConnection(target)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("error", () => socket.destroy())
          socket.on("close", () => sockets.delete(socket))
        }
        client.pipe(upstream).pipe(client)
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        if (address === null || typeof address === "string") throw new Error("the relay has no port")
        resume(Effect.succeed({
          server,
          relay: {
            port: address.port,
            down: Effect.sync(() => {
              open = false
              for (const socket of sockets) socket.destroy()
            }),
            up: Effect.sync(() => {
              open = true
            }),
            dropped: () => dropped
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ relay }) => relay))

/** The database's own client, and the waiting one built over it. */
const clients = <E>(database: Layer.Layer<SqlClient, E>) =>
  Effect.gen(function*() {
    const base = Layer.succeedContext(yield* Layer.build(database))
    return {
      plain: yield* Effect.provide(SqlClient, base),
      waiting: yield* Effect.provide(SqlClient, Database.layerWaitingForConnection.pipe(Layer.provide(base)))
    }
  })

describe("Database.layerWaitingForConnection", () => {
  it.live("on PostgreSQL, a statement waits for the server to accept connections again", () =>
    Effect.gen(function*() {
      const config = yield* TestDatabase.fresh("pg")
      if (config._tag !== "Pg") return assert.fail("expected PostgreSQL")
      const url = new URL(Redacted.value(config.url))
      const through = yield* relay({ host: url.hostname, port: Number(url.port) })
      url.hostname = "127.0.0.1"
      url.port = String(through.port)
      const { plain, waiting } = yield* clients(Database.layerPg({ url: Redacted.make(url.toString()) }))
      assert.notStrictEqual(waiting, plain)
      const selectOne = (sql: SqlClient) => sql<{ readonly one: number }>`SELECT 1 AS one`

      assert.deepStrictEqual(yield* selectOne(waiting), [{ one: 1 }])
      yield* through.down
      assert.isTrue(Exit.isFailure(yield* Effect.exit(selectOne(plain))), "the plain client fails at once")
      const waited = yield* Effect.fork(selectOne(waiting))
      // It keeps trying while the server is away...
      while (through.dropped() < 3) yield* Effect.sleep("20 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(waited)), "still waiting")
      // ...and runs once it is back.
      yield* through.up
      assert.deepStrictEqual(yield* Fiber.join(waited), [{ one: 1 }])
    }).pipe(Effect.scoped))

  it.live("statements interrupted while they wait for a pooled connection give it back", () =>
    Effect.gen(function*() {
      const config = yield* TestDatabase.fresh("pg")
      if (config._tag !== "Pg") return assert.fail("expected PostgreSQL")
      const { waiting } = yield* clients(Database.layerPg({ url: config.url, maxConnections: 2 }))
      // Far more statements than connections, most cut off while queued for one.
      yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        () => waiting`SELECT pg_sleep(0.02)`.pipe(Effect.timeout("15 millis"), Effect.ignore),
        { concurrency: "unbounded" }
      )
      const rows = yield* waiting<{ readonly one: number }>`SELECT 1 AS one`.pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(rows, [{ one: 1 }])
    }).pipe(Effect.scoped))

  it.effect("on SQLite, the client itself", () =>
    Effect.gen(function*() {
      const config = yield* TestDatabase.fresh("sqlite")
      const { plain, waiting } = yield* clients(Database.layerFrom(config))
      assert.strictEqual(waiting, plain)
    }).pipe(Effect.scoped))
})
