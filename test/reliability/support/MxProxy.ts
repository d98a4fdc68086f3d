/**
 * An HTTP proxy on 127.0.0.1 between one worker replica and the MX sandbox. It forwards every request
 * and can withhold the response to a chosen request: MX has acted on it, the replica never hears
 * back. Killing the replica then lands exactly "mid-poll", "mid-pull" or "mid-resume", after MX acted
 * and before the worker recorded that it did. (A generalisation of test/worker/support/holdingProxy.ts
 * to any number of holds, with the MX operation of each request.)
 */
import { Deferred, Effect, type Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"

/** A request as the proxy sees it. */
export interface ProxiedRequest {
  readonly method: string
  readonly path: string
  /** The MX operationId, from the method and path. */
  readonly operation: string
  readonly memberGuid: string | undefined
}

/** A request whose response the proxy withholds. */
export interface Held extends ProxiedRequest {
  /** MX's status for it. */
  readonly status: number
}

/**
 * MX requests in flight per member, across every proxy of a trial: which requests for one member
 * overlapped (the sandbox counts the peak; this says which operations it was).
 */
export interface InFlight {
  /** `proxy` names the proxy (the replica) the request went through. */
  readonly begin: (memberGuid: string, operation: string, proxy: string) => () => void
  readonly overlaps: () => ReadonlyArray<{ readonly memberGuid: string; readonly operations: ReadonlyArray<string> }>
  /**
   * Reads of one member (`readMember`, `readMemberStatus`) that reached the proxies less than `gapMs`
   * of real time apart, with the replicas that sent them.
   */
  readonly closeReads: (gapMs: number) => ReadonlyArray<string>
}

/** A tracker of MX requests in flight. */
export const inFlight = (): InFlight => {
  const current = new Map<string, Array<string>>()
  const overlaps: Array<{ readonly memberGuid: string; readonly operations: ReadonlyArray<string> }> = []
  const reads = new Map<string, Array<{ readonly at: number; readonly what: string }>>()
  return {
    begin: (memberGuid, operation, proxy) => {
      if (operation === "readMember" || operation === "readMemberStatus") {
        const list = reads.get(memberGuid) ?? []
        list.push({ at: Date.now(), what: `${operation} via ${proxy}` })
        reads.set(memberGuid, list)
      }
      const list = current.get(memberGuid) ?? []
      list.push(operation)
      current.set(memberGuid, list)
      if (list.length > 1) overlaps.push({ memberGuid, operations: [...list] })
      return () => {
        const index = list.indexOf(operation)
        if (index >= 0) list.splice(index, 1)
      }
    },
    overlaps: () => [...overlaps],
    closeReads: (gapMs) => {
      const out: Array<string> = []
      for (const [memberGuid, list] of reads) {
        for (let i = 1; i < list.length; i++) {
          const gap = list[i]!.at - list[i - 1]!.at
          if (gap < gapMs) out.push(`${memberGuid}: ${list[i - 1]!.what}, then ${list[i]!.what} ${gap} ms later`)
        }
      }
      return out
    }
  }
}

/** A running proxy. */
export interface MxProxy {
  readonly url: string
  /**
   * Withholds the response to the next request matching `match` (MX answered it, the client waits
   * forever) and completes with that request. The returned effect waits for such a request.
   */
  readonly hold: (match: (request: ProxiedRequest) => boolean) => Effect.Effect<Held>
  /** Completes at the next request matching `match` (answered as usual). */
  readonly next: (match: (request: ProxiedRequest) => boolean) => Effect.Effect<ProxiedRequest>
  /** Stops waiting for the holds not yet matched (after a kill, for example). */
  readonly cancelHolds: Effect.Effect<void>
  /**
   * Withholds every response to requests matching `match` (MX acts on them) until `openGate`: for
   * holding runs at one step while something else happens.
   */
  readonly closeGate: (match: (request: ProxiedRequest) => boolean) => Effect.Effect<void>
  /** Sends the responses the gate withheld, and lets later ones through. */
  readonly openGate: Effect.Effect<void>
  /** Sends the withheld responses after all (to clients still connected). */
  readonly releaseHeld: Effect.Effect<void>
  /** When the proxy last forwarded a request about a member (epoch ms). */
  readonly lastRequestAt: (memberGuid: string) => number | undefined
  /** Requests forwarded so far, by operation. */
  readonly counts: () => Readonly<Record<string, number>>
}

const memberPattern = /\/members\/([^/?]+)(\/([a-z_]+))?\/?$/

/** The MX operationId of a request (the subset the worker calls). */
export const operationOf = (method: string, path: string): { operation: string; memberGuid: string | undefined } => {
  const bare = path.split("?")[0] ?? path
  const match = memberPattern.exec(bare)
  if (match === null) {
    if (/\/users\/[^/]+\/members$/.test(bare)) {
      return { operation: method === "GET" ? "listMembers" : "createMember", memberGuid: undefined }
    }
    return { operation: `${method} ${bare}`, memberGuid: undefined }
  }
  const memberGuid = match[1]
  const sub = match[3]
  const operation = sub === undefined
    ? method === "GET"
      ? "readMember"
      : method === "PUT"
      ? "updateMember"
      : method === "DELETE"
      ? "deleteMember"
      : "member"
    : ({
      status: "readMemberStatus",
      resume: "resumeAggregation",
      aggregate: "aggregateMember",
      challenges: "listMemberChallenges",
      accounts: "listMemberAccounts",
      transactions: "listTransactionsByMember",
      credentials: "listMemberCredentials"
    } as Record<string, string>)[sub] ?? sub
  return { operation, memberGuid }
}

const readBody = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

interface Hold {
  readonly match: (request: ProxiedRequest) => boolean
  readonly deferred: Deferred.Deferred<Held>
}

/** A proxy to `target` (the sandbox's URL), closed with the scope. */
export const make = (
  target: string,
  tracker: InFlight = inFlight(),
  name = "proxy"
): Effect.Effect<MxProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    let holds: Array<Hold> = []
    let watches: Array<{
      readonly match: (request: ProxiedRequest) => boolean
      readonly deferred: Deferred.Deferred<ProxiedRequest>
    }> = []
    let withheld: Array<{ readonly response: ServerResponse; readonly send: () => void }> = []
    const lastRequest = new Map<string, number>()
    let gate: ((request: ProxiedRequest) => boolean) | undefined
    let gated: Array<{ readonly response: ServerResponse; readonly send: () => void }> = []
    const counts: Record<string, number> = {}
    const server = createServer((request, response) => {
      const method = request.method ?? "GET"
      const path = request.url ?? "/"
      const { memberGuid, operation } = operationOf(method, path)
      counts[operation] = (counts[operation] ?? 0) + 1
      if (memberGuid !== undefined) lastRequest.set(memberGuid, Date.now())
      for (const watch of watches) {
        if (watch.match({ method, path, operation, memberGuid })) {
          watches = watches.filter((w) => w !== watch)
          Deferred.unsafeDone(watch.deferred, Effect.succeed({ method, path, operation, memberGuid }))
        }
      }
      const end = memberGuid === undefined ? () => {} : tracker.begin(memberGuid, operation, name)
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
          // MX has answered: as far as MX is concerned the request is over.
          end()
          const proxied: ProxiedRequest = { method, path, operation, memberGuid }
          const out: Record<string, string> = {}
          answer.headers.forEach((value, name) => {
            if (!["content-length", "content-encoding", "transfer-encoding", "connection"].includes(name)) {
              out[name] = value
            }
          })
          const send = () => {
            response.writeHead(answer.status, out)
            response.end(payload)
          }
          if (gate !== undefined && gate(proxied)) {
            gated.push({ response, send })
            return
          }
          const hold = holds.find((h) => h.match(proxied))
          if (hold !== undefined) {
            holds = holds.filter((h) => h !== hold)
            withheld.push({ response, send })
            Deferred.unsafeDone(hold.deferred, Effect.succeed({ ...proxied, status: answer.status }))
            return // not answered until released: the client dies first, or the proxy closes
          }
          send()
        } catch (error) {
          end()
          if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" })
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
          for (const { response } of [...withheld, ...gated]) response.destroy()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      url: `http://127.0.0.1:${port}`,
      hold: (match) =>
        Effect.gen(function*() {
          const deferred = yield* Deferred.make<Held>()
          holds.push({ match, deferred })
          return yield* Deferred.await(deferred).pipe(
            Effect.onInterrupt(() => Effect.sync(() => holds = holds.filter((h) => h.deferred !== deferred)))
          )
        }),
      next: (match) =>
        Effect.gen(function*() {
          const deferred = yield* Deferred.make<ProxiedRequest>()
          watches.push({ match, deferred })
          return yield* Deferred.await(deferred).pipe(
            Effect.onInterrupt(() => Effect.sync(() => watches = watches.filter((w) => w.deferred !== deferred)))
          )
        }),
      cancelHolds: Effect.sync(() => {
        holds = []
      }),
      closeGate: (match) =>
        Effect.sync(() => {
          gate = match
        }),
      openGate: Effect.sync(() => {
        gate = undefined
        const waiting = gated
        gated = []
        for (const { response, send } of waiting) {
          if (!response.destroyed && !response.writableEnded) send()
        }
      }),
      releaseHeld: Effect.sync(() => {
        const held = withheld
        withheld = []
        for (const { response, send } of held) {
          if (!response.destroyed && !response.writableEnded) send()
        }
      }),
      lastRequestAt: (memberGuid) => lastRequest.get(memberGuid),
      counts: () => ({ ...counts })
    }
  })
