/**
 * A port on 127.0.0.1 free at the moment, for a server started later (a child process, a replica's
 * runner, PostgreSQL) and started again on the same port after a restart.
 *
 * It is taken below Linux's ephemeral range (32768-60999): a port the OS hands out there could
 * meanwhile become the local port of any outgoing connection (every test talks over TCP), and a
 * server restarted on it would fail with EADDRINUSE. Candidates are tried until one binds.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { createServer } from "node:net"

/** Where candidates are drawn: [first, first + span). */
const first = 20_000
const span = 12_000

/**
 * A free port, as a Promise (for vitest's global setup).
 *
 * @since 0.1.0
 */
export const freePortPromise = (attempts = 100): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const attempt = (left: number) => {
      const candidate = first + Math.floor(Math.random() * span)
      const server = createServer()
      server.once("error", () => {
        server.close()
        if (left > 0) attempt(left - 1)
        else reject(new Error("no free port found below the ephemeral range"))
      })
      server.listen(candidate, "127.0.0.1", () => server.close(() => resolve(candidate)))
    }
    attempt(attempts)
  })

/**
 * A free port, as an Effect.
 *
 * @since 0.1.0
 */
export const freePort: Effect.Effect<number> = Effect.promise(() => freePortPromise())
