/**
 * The HTTP server of one of the worker's listeners (control API, MX webhooks, metrics): plain HTTP, or
 * HTTPS with `Tls` credentials, that closes within a grace period.
 *
 * Node's `server.close()` waits for every open connection to end. @effect/platform removes its request
 * handler before it closes the server, so a request that arrives meanwhile on a kept-alive connection
 * (MX, or the demo's sandbox, sending a webhook at that moment) is never answered, its connection never
 * ends, and the worker's shutdown waits for the client to give up (minutes). Here, closing stops new
 * connections, drops the idle ones at once, and drops the rest after `grace`: requests in flight have
 * that long to be answered.
 *
 * @since 0.1.0
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import type * as Http from "node:http"
import * as Tls from "./Tls.js"

/**
 * How long requests in flight have to be answered once a listener closes (default).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultGrace: Duration.Duration = Duration.seconds(2)

/**
 * Closes `server` (it stops accepting connections), drops its idle connections at once and the others
 * after `grace`; completes once the server has closed.
 *
 * @since 0.1.0
 * @category utilities
 */
export const close = (server: Http.Server, grace: Duration.DurationInput) =>
  Effect.async<void>((resume) => {
    if (!server.listening) return resume(Effect.void)
    const timer = setTimeout(() => server.closeAllConnections(), Duration.toMillis(grace))
    server.close(() => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    server.closeIdleConnections()
  })

/**
 * The listener's `HttpServer` on `host:port` (port 0: a free port), HTTPS when `tls` is given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly port: number
  readonly host: string
  readonly tls?: Tls.Credentials | undefined
  readonly grace?: Duration.DurationInput | undefined
}) =>
  Layer.suspend(() => {
    const make = Tls.makeServer(options.tls)
    let server: Http.Server | undefined
    // Built after the server, so released before it: the server has closed by the time @effect/platform
    // would close it (and waits for nothing).
    const closing = Layer.scopedDiscard(
      Effect.addFinalizer(() => server === undefined ? Effect.void : close(server, options.grace ?? defaultGrace))
    )
    return closing.pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => (server = make()), { port: options.port, host: options.host }))
    )
  })
