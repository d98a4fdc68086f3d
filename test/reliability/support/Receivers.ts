/**
 * The outside world of a trial, misbehaving on purpose:
 *
 * - a partner's notification receiver (`WORKER_NOTIFY_URL`) that answers 500, drops the connection or
 *   answers slowly for a share of the requests, and is down (503) for whole windows;
 * - a relay between the sandbox's MX webhooks and the replicas' webhook listeners (`POST /webhooks/mx`
 *   with the Basic credentials MX would send) that delivers each webhook one to three times, after
 *   random delays (so duplicated and reordered), to a random running replica, while a forger sends
 *   webhooks MX never sent (wrong statuses, unknown members, bodies that are not JSON), half of them
 *   without credentials (which must be refused) and half with them (a leaked password: still hints).
 */
import * as Notifications from "@mx-aggregation/worker/Notifications"
import { Effect, Either, Fiber, Schema, type Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type * as Rng from "./Rng.js"

const readBody = (request: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const serve = (
  handler: (request: IncomingMessage, response: ServerResponse) => void
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly close: () => Promise<void> }>((resume) => {
      const server = createServer(handler)
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          close: () =>
            new Promise<void>((done) => {
              server.closeAllConnections()
              server.close(() => done())
            })
        })))
    }),
    (s) => Effect.promise(() => s.close())
  ).pipe(Effect.map((s) => s.url))

/** How the partner's receiver misbehaves. */
export interface ReceiverOptions {
  /** Share of requests answered 500. */
  readonly errorRate: number
  /** Share of requests whose connection is dropped without an answer. */
  readonly dropRate: number
  /** Share of requests answered after 0.5-2 s. */
  readonly slowRate: number
  /** Windows (ms after start) during which every request gets 503. */
  readonly downWindows?: ReadonlyArray<readonly [number, number]> | undefined
}

/** One request the receiver got. */
export interface Received {
  readonly id: number
  readonly memberGuid: string
  readonly type: string
  readonly status: number | "dropped"
  readonly signed: boolean
}

/** The partner's receiver. */
export interface Receiver {
  readonly url: string
  readonly secret: string
  readonly received: ReadonlyArray<Received>
}

const decodeNotification = Schema.decodeUnknownSync(Schema.parseJson(Notifications.Notification))

/** Starts a misbehaving receiver, closed with the scope. */
export const receiver = (rng: Rng.Rng, options: ReceiverOptions): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.gen(function*() {
    // A Standard Webhooks secret (32 bytes), as the worker requires of WORKER_NOTIFY_SECRET.
    const secret = `whsec_${Buffer.from("reliability-notify-secret-32byte").toString("base64")}`
    const signing = Either.getOrThrow(Notifications.parseSecret(secret))
    const received: Array<Received> = []
    const started = Date.now()
    const url = yield* serve((request, response) => {
      void readBody(request).then((body) => {
        let notification: Notifications.Notification
        try {
          notification = decodeNotification(body)
        } catch {
          response.writeHead(400).end()
          return
        }
        // Signature and timestamp (replays refused), as a partner checks them.
        const signed = Either.isRight(
          Effect.runSync(Effect.either(Notifications.verify(signing, request.headers, body)))
        )
        const record = (status: number | "dropped") =>
          received.push({
            id: notification.id,
            memberGuid: notification.member_guid,
            type: notification.type,
            status,
            signed
          })
        const elapsed = Date.now() - started
        if ((options.downWindows ?? []).some(([from, to]) => elapsed >= from && elapsed < to)) {
          record(503)
          response.writeHead(503).end()
          return
        }
        const roll = rng.next()
        if (roll < options.errorRate) {
          record(500)
          response.writeHead(500).end()
        } else if (roll < options.errorRate + options.dropRate) {
          record("dropped")
          response.socket?.destroy()
        } else if (roll < options.errorRate + options.dropRate + options.slowRate) {
          setTimeout(() => {
            record(200)
            response.writeHead(200).end()
          }, rng.int(500, 2_000))
        } else {
          record(200)
          response.writeHead(200).end()
        }
      })
    })
    return { url: `${url}/notifications`, secret, received }
  })

/** How webhooks are mangled. */
export interface RelayOptions {
  /** Share of MX's webhooks delivered twice (and a tenth of those three times). */
  readonly duplicateRate: number
  /** Each delivery waits a random 0-`maxDelayMs` ms (so deliveries overtake each other). */
  readonly maxDelayMs: number
  /** Forged webhooks sent per second while the relay runs. */
  readonly forgedPerSecond: number
}

/** The Basic credentials the relay delivers with (`WORKER_WEBHOOK_USERNAME` / `WORKER_WEBHOOK_PASSWORD`). */
export const relayCredentials = { username: "mx", password: "reliability-webhook-password-0123456789" } as const

const basic = `Basic ${Buffer.from(`${relayCredentials.username}:${relayCredentials.password}`).toString("base64")}`

/** What the relay and the forger did. */
export interface Relay {
  readonly url: string
  /** Stops forging (MX's webhooks are still relayed). */
  readonly stopForging: () => void
  readonly counts: () => {
    readonly fromMx: number
    readonly delivered: number
    readonly duplicates: number
    readonly forged: number
    /** Answers of the worker with a 5xx (it must answer 204, 400 to a bad body, 401 without credentials). */
    readonly serverErrors: number
    /** Forgeries without credentials that were not answered 401. */
    readonly unauthenticatedAccepted: number
    /** Deliveries that found no replica listening (it was down). */
    readonly unreachable: number
  }
}

/**
 * Starts the relay (point the sandbox's webhook URL at `url`) and the forger. `targets` gives the
 * running replicas' base URLs; `memberGuids` the members a forger may name.
 */
export const relay = (
  rng: Rng.Rng,
  options: RelayOptions,
  targets: () => ReadonlyArray<string>,
  memberGuids: ReadonlyArray<string>
): Effect.Effect<Relay, never, Scope.Scope> =>
  Effect.gen(function*() {
    let fromMx = 0
    let delivered = 0
    let duplicates = 0
    let forged = 0
    let serverErrors = 0
    let unreachable = 0
    let unauthenticatedAccepted = 0
    let forging = options.forgedPerSecond > 0
    const post = async (body: string, authenticated = true) => {
      const live = targets()
      if (live.length === 0) {
        unreachable++
        return
      }
      const target = rng.pick(live)
      try {
        const answer = await fetch(`${target}/webhooks/mx`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(authenticated ? { authorization: basic } : {}) },
          body
        })
        await answer.arrayBuffer()
        delivered++
        if (answer.status >= 500) serverErrors++
        if (!authenticated && answer.status !== 401) unauthenticatedAccepted++
      } catch {
        unreachable++
      }
    }
    const later = (body: string, authenticated = true) =>
      setTimeout(() => void post(body, authenticated), rng.int(0, options.maxDelayMs))
    const url = yield* serve((request, response) => {
      void readBody(request).then((body) => {
        fromMx++
        response.writeHead(200).end()
        const copies = rng.chance(options.duplicateRate) ? (rng.chance(0.1) ? 3 : 2) : 1
        duplicates += copies - 1
        for (let i = 0; i < copies; i++) later(body)
      })
    })
    const statuses = ["CONNECTED", "CHALLENGED", "DENIED", "EXPIRED", "LOCKED", "REJECTED", "FAILED", "PREVENTED"]
    const forgery = (): string => {
      const member = rng.chance(0.8) ? rng.pick(memberGuids) : `MBR-forged-${rng.int(0, 1e6)}`
      switch (rng.int(0, 4)) {
        case 0:
          return "{ not json"
        case 1:
          return JSON.stringify({ type: "SOMETHING_ELSE", member_guid: member })
        case 2:
          return JSON.stringify({ action: "member_data_updated", type: "AGGREGATION", member_guid: member })
        default:
          return JSON.stringify({
            action: "CHANGED",
            type: "CONNECTION_STATUS",
            member_guid: member,
            connection_status: rng.pick(statuses)
          })
      }
    }
    if (options.forgedPerSecond > 0) {
      const fiber = yield* Effect.forkScoped(
        Effect.sync(() => {
          if (!forging || targets().length === 0) return
          forged++
          later(forgery(), rng.chance(0.5))
        }).pipe(Effect.zipRight(Effect.sleep(`${Math.round(1000 / options.forgedPerSecond)} millis`)), Effect.forever)
      )
      yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
    }
    return {
      url: `${url}/mx-webhooks`,
      stopForging: () => {
        forging = false
      },
      counts: () => ({ fromMx, delivered, duplicates, forged, serverErrors, unauthenticatedAccepted, unreachable })
    }
  })
