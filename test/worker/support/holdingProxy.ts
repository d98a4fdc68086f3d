/**
 * An HTTP proxy on 127.0.0.1 in front of the sandbox that can withhold one response: the request
 * reaches MX and MX acts on it, but the client never hears back. Killing the client then simulates a
 * crash in the worst place, after MX acted and before the client recorded that it did.
 */
import { Deferred, Effect, type Scope } from "effect"
import { createServer, type IncomingMessage } from "node:http"

/** A running proxy. */
export interface HoldingProxy {
  readonly url: string
  /** Completes when a request matching the predicate was answered by the target and withheld. */
  readonly held: Deferred.Deferred<{ readonly method: string; readonly path: string; readonly status: number }>
}

const readBody = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

/**
 * Forwards every request to `target`; withholds the response to the first request for which
 * `hold(method, path)` is true (later ones pass).
 */
export const make = (
  target: string,
  hold: (method: string, path: string) => boolean
): Effect.Effect<HoldingProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const held = yield* Deferred.make<{ readonly method: string; readonly path: string; readonly status: number }>()
    let holding = true
    const server = createServer((request, response) => {
      const method = request.method ?? "GET"
      const path = request.url ?? "/"
      void (async () => {
        try {
          const body = await readBody(request)
          const headers = new Headers()
          for (const [name, value] of Object.entries(request.headers)) {
            if (value === undefined || name === "host" || name === "content-length" || name === "connection") continue
            headers.set(name, Array.isArray(value) ? value.join(", ") : value)
          }
          const answer = await fetch(new URL(path, target), {
            method,
            headers,
            ...(body.length > 0 ? { body } : {})
          })
          const payload = Buffer.from(await answer.arrayBuffer())
          if (holding && hold(method, path)) {
            holding = false
            Deferred.unsafeDone(held, Effect.succeed({ method, path, status: answer.status }))
            return // never answered: the connection stays open until the proxy closes
          }
          const out: Record<string, string> = {}
          answer.headers.forEach((value, name) => {
            if (!["content-length", "content-encoding", "transfer-encoding", "connection"].includes(name)) {
              out[name] = value
            }
          })
          response.writeHead(answer.status, out)
          response.end(payload)
        } catch (error) {
          response.writeHead(502, { "content-type": "text/plain" })
          response.end(`proxy error: ${String(error)}`)
        }
      })()
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return { url: `http://127.0.0.1:${port}`, held }
  })
