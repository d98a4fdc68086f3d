/**
 * A listener closes within its grace period whatever its clients do: a connection that stays open
 * (a request whose headers never end, or one sent on a kept-alive connection after the request handler
 * was removed) no longer holds the worker's shutdown until the client gives up; a request in flight
 * when the listener closes is still answered within the grace.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Listener } from "@mx-aggregation/worker"
import { Context, Deferred, type Duration, Effect, Exit, Layer, Option, Scope } from "effect"
import { connect } from "node:net"
import { request } from "undici"

/** A server on a free port answering `/` at once, and `/slow` (`arrived`) once `release` completes. */
const serving = (arrived: Deferred.Deferred<void>, release: Deferred.Deferred<void>, grace: Duration.DurationInput) =>
  HttpServer.serve(
    HttpRouter.empty.pipe(
      HttpRouter.get("/", HttpServerResponse.text("ok")),
      HttpRouter.get(
        "/slow",
        Deferred.succeed(arrived, void 0).pipe(
          Effect.zipRight(Deferred.await(release)),
          Effect.as(HttpServerResponse.text("late but answered"))
        )
      )
    )
  ).pipe(Layer.provideMerge(Listener.layer({ port: 0, host: "127.0.0.1", grace })))

/** Closes `scope`, or fails when that takes longer than `limit` (a hang, not a measurement). */
const closeWithin = (scope: Scope.CloseableScope, limit: Duration.DurationInput) =>
  Scope.close(scope, Exit.void).pipe(
    Effect.disconnect,
    Effect.timeout(limit),
    Effect.option,
    Effect.map(Option.isSome)
  )

/** A TCP connection that sends the start of a request and never its end; resolves when it is closed. */
const halfRequest = (port: number) =>
  Effect.async<Effect.Effect<void>>((resume) => {
    const closed = Effect.async<void>((done) => {
      socket.on("close", () => done(Effect.void))
    })
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
      resume(Effect.succeed(closed))
    })
    socket.on("error", () => undefined)
  })

describe("Listener", () => {
  it.live("a connection that never finishes its request is dropped after the grace, and the listener closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        serving(yield* Deferred.make<void>(), yield* Deferred.make<void>(), "500 millis"),
        scope
      )
      const { port } = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
      const droppedConnection = yield* halfRequest(port)
      // Node's own limit for such a request is 60 s of headers timeout: without the grace, closing waits that long.
      assert.isTrue(yield* closeWithin(scope, "20 seconds"), "the listener closed")
      yield* droppedConnection
    }))

  it.live("a request in flight when the listener closes is answered within the grace", () =>
    Effect.gen(function*() {
      const [arrived, release] = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(serving(arrived, release, "30 seconds"), scope)
      const { port } = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
      const slow = yield* Effect.fork(Effect.promise(async () => {
        const response = await request(`http://127.0.0.1:${port}/slow`)
        return { status: response.statusCode, body: await response.body.text() }
      }))
      // An idle kept-alive connection beside it does not hold the close either.
      const idle = yield* Effect.promise(() => request(`http://127.0.0.1:${port}/`).then((r) => r.body.text()))
      assert.strictEqual(idle, "ok")
      yield* Deferred.await(arrived)
      const closing = yield* Effect.fork(closeWithin(scope, "20 seconds"))
      yield* Deferred.succeed(release, void 0)
      assert.deepStrictEqual(yield* slow, { status: 200, body: "late but answered" })
      assert.isTrue(yield* closing, "the listener closed once the request was answered, before the grace ended")
    }))
})
