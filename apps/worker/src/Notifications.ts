/**
 * Partner notifications: the outbox's events (a member needs MFA answers, new credentials, action at
 * the institution, its user present; data updated; stopped; …) POSTed as JSON to the partner's URL,
 * signed as Standard Webhooks define it (`NotificationSignature`): `webhook-id` (the event id),
 * `webhook-timestamp` and `webhook-signature`, so that partners verify with the Standard Webhooks
 * library of their language and refuse replays of old deliveries.
 *
 * Guarantees:
 * - **At least once**: an event is marked delivered only after the receiver answered 2xx. A crash or a
 *   lost answer between the 2xx and the mark sends it again, so receivers deduplicate on the event id
 *   (`webhook-id`, also `id` in the body).
 * - **In order per member**: a member's event is never sent while an earlier event of the same member
 *   is undelivered. Members are delivered concurrently (bounded), each member's events one by one.
 * - **Retried**: a failure (transport, timeout, non-2xx) is retried with `retrySchedule` (exponential,
 *   capped); an event that still fails blocks only its own member's later events, and is tried again on
 *   the next pass. Each attempt is signed anew with its own timestamp, so a retry hours later still
 *   falls inside the receiver's tolerance window.
 *
 * Several replicas on one PostgreSQL database: two deliverers reading the same outbox could both send
 * an event (at least once allows it, order per member still holds for each sender, but the receiver may
 * see duplicates interleaved). `layerSingleton` runs the loop as a cluster singleton so that one
 * replica delivers; `layer` runs it in every process that has it.
 *
 * @since 0.1.0
 */
import { Singleton } from "@effect/cluster"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Member, Schedules } from "@mx-aggregation/domain"
import { Outbox } from "@mx-aggregation/store"
import type { StoreError } from "@mx-aggregation/store"
import {
  Clock,
  Config,
  ConfigError,
  type Duration,
  Effect,
  Either,
  Layer,
  Metric,
  Option,
  Schedule,
  Schema
} from "effect"
import * as NotificationSignature from "./NotificationSignature.js"

/**
 * For receivers: verifies a delivery's Standard Webhooks headers and raw body with the shared secret,
 * refusing timestamps outside the tolerance (default 5 minutes) and bad signatures
 * (`NotificationSignature.verify`).
 *
 * @since 0.1.0
 * @category signatures
 */
export const verify = NotificationSignature.verify

/**
 * Reads a `whsec_…` signing secret (`NotificationSignature.parseSecret`).
 *
 * @since 0.1.0
 * @category signatures
 */
export const parseSecret = NotificationSignature.parseSecret

/**
 * The header carrying the event type (the same as `type` in the body), for routing without parsing.
 *
 * @since 0.1.0
 * @category constants
 */
export const eventTypeHeader = "X-MX-Aggregation-Event-Type"

/**
 * The JSON body of a notification. `id` increases with every event (per member and overall);
 * `created_at` is ISO 8601; `payload` depends on `type` and never holds credentials or MFA answers.
 *
 * @since 0.1.0
 * @category models
 */
export class Notification extends Schema.Class<Notification>("Notification")({
  id: Schema.Int,
  type: Outbox.EventType,
  member_guid: Member.MemberGuid,
  user_guid: Schema.NullOr(Member.UserGuid),
  created_at: Schema.String,
  payload: Schema.Unknown
}) {}

/**
 * The notification of an outbox event, as the JSON text that is sent and signed.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (event: Outbox.OutboxEvent): string =>
  JSON.stringify({
    id: event.id,
    type: event.type,
    member_guid: event.memberGuid,
    user_guid: event.userGuid,
    created_at: new Date(event.createdAt).toISOString(),
    payload: event.payload ?? null
  })

/**
 * A delivery attempt failed: no answer (`Transport`), no answer in time (`Timeout`), or an answer
 * other than 2xx (`Status`).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotificationDeliveryError extends Schema.TaggedError<NotificationDeliveryError>()(
  "NotificationDeliveryError",
  {
    reason: Schema.Literal("Transport", "Timeout", "Status"),
    eventId: Schema.Number,
    status: Schema.optional(Schema.Number),
    message: Schema.String
  }
) {}

/**
 * A retry Schedule for deliveries: the domain's `Schedules.mxRetry` (exponential from `base` doubling,
 * jittered, each delay capped at `cap`), at most `maxRetries` retries.
 *
 * @since 0.1.0
 * @category retries
 */
export const makeRetrySchedule = (options: {
  readonly base: Duration.DurationInput
  readonly cap: Duration.DurationInput
  readonly maxRetries: number
}): Schedule.Schedule<unknown, NotificationDeliveryError> =>
  Schedules.mxRetry({ base: options.base, cap: options.cap, times: options.maxRetries })

/**
 * The default retry Schedule of a delivery: from 500 ms doubling, jittered, capped at 30 s, 6 retries
 * (about half a minute), after which the member waits for the next pass.
 *
 * @since 0.1.0
 * @category retries
 */
export const retrySchedule: Schedule.Schedule<unknown, NotificationDeliveryError> = makeRetrySchedule({
  base: "500 millis",
  cap: "30 seconds",
  maxRetries: 6
})

/**
 * Options of the deliverer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where events are POSTed. */
  readonly url: string
  /** The shared signing secret (`NotificationSignature.parseSecret`). */
  readonly secret: NotificationSignature.SigningSecret
  /** Events read from the outbox per pass (default 200). */
  readonly batchSize?: number | undefined
  /** The wait between passes when the outbox has been drained (default 1 second). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** How a failed attempt is retried before the member waits for the next pass (default `retrySchedule`). */
  readonly retry?: Schedule.Schedule<unknown, NotificationDeliveryError> | undefined
  /** Members delivered at once (default 8). */
  readonly concurrency?: number | undefined
  /** The time allowed for one attempt (default 10 seconds). */
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/**
 * What one pass did: events delivered, members left blocked by an event that kept failing, and
 * whether the batch was full (more may be waiting).
 *
 * @since 0.1.0
 * @category models
 */
export interface PassResult {
  readonly delivered: number
  readonly blockedMembers: number
  readonly full: boolean
}

/**
 * Notifications delivered (a 2xx received), by event type.
 *
 * @since 0.1.0
 * @category metrics
 */
export const deliveredTotal = Metric.counter("mx_aggregation_notifications_delivered", {
  description: "Partner notifications delivered (answered 2xx)",
  incremental: true
})

/**
 * Failed delivery attempts (each retry counts), by reason.
 *
 * @since 0.1.0
 * @category metrics
 */
export const failedAttemptsTotal = Metric.counter("mx_aggregation_notification_attempts_failed", {
  description: "Partner notification attempts that failed (transport, timeout or non-2xx)",
  incremental: true
})

/**
 * One POST of one event, signed at the time of the attempt; fails unless the receiver answers 2xx
 * within the timeout.
 */
const attempt = (
  http: HttpClient.HttpClient,
  options: Options,
  event: Outbox.OutboxEvent
): Effect.Effect<void, NotificationDeliveryError> =>
  Effect.gen(function*() {
    const body = encode(event)
    const sentAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const request = HttpClientRequest.post(options.url).pipe(
      HttpClientRequest.bodyText(body, "application/json"),
      HttpClientRequest.setHeaders({
        ...NotificationSignature.headers(options.secret, String(event.id), sentAt, body),
        [eventTypeHeader]: event.type
      })
    )
    const response = yield* http.execute(request).pipe(
      Effect.mapError((error) =>
        new NotificationDeliveryError({
          reason: "Transport",
          eventId: event.id,
          message: `no answer from the notification URL: ${error.reason}`
        })
      )
    )
    // Reading the body frees the connection for the next request.
    yield* Effect.ignore(response.text)
    if (response.status < 200 || response.status > 299) {
      return yield* new NotificationDeliveryError({
        reason: "Status",
        eventId: event.id,
        status: response.status,
        message: `the notification URL answered ${response.status}`
      })
    }
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: options.requestTimeout ?? "10 seconds",
      onTimeout: () =>
        new NotificationDeliveryError({
          reason: "Timeout",
          eventId: event.id,
          message: "no answer from the notification URL in time"
        })
    }),
    Effect.tapError((error) =>
      Metric.increment(Metric.tagged(failedAttemptsTotal, "reason", error.reason)).pipe(
        Effect.zipRight(Effect.logDebug("notification attempt failed", error.message))
      )
    )
  )

/**
 * Delivers one member's events in id order, each retried, each marked delivered after its 2xx; stops
 * at the first event that keeps failing (its later events wait for the next pass). Never fails.
 */
const deliverMember = (
  http: HttpClient.HttpClient,
  outbox: Outbox.OutboxService,
  options: Options,
  events: ReadonlyArray<Outbox.OutboxEvent>
): Effect.Effect<{ readonly delivered: number; readonly blocked: boolean }> =>
  Effect.gen(function*() {
    const schedule = options.retry ?? retrySchedule
    let delivered = 0
    for (const event of events) {
      const sent = yield* attempt(http, options, event).pipe(
        Effect.retry(schedule),
        Effect.zipRight(outbox.markDelivered([event.id])),
        Effect.zipRight(Metric.increment(Metric.tagged(deliveredTotal, "type", event.type))),
        Effect.as(true),
        Effect.catchAll((error) =>
          Effect.logWarning(
            `a partner notification could not be delivered (${error.message}); the member's later events wait for the next pass`
          ).pipe(Effect.as(false))
        ),
        Effect.catchAllCause((cause) =>
          Effect.logError("delivering a partner notification failed unexpectedly", cause).pipe(Effect.as(false))
        ),
        Effect.annotateLogs({ eventId: event.id, eventType: event.type })
      )
      if (!sent) return { delivered, blocked: true }
      delivered++
    }
    return { delivered, blocked: false }
  }).pipe(Effect.annotateLogs({ memberGuid: events[0]?.memberGuid ?? null }))

/**
 * One pass: reads the oldest undelivered events (up to `batchSize`) and delivers them, members
 * concurrently, each member's in order. The batch is the oldest events overall, so every member's
 * events in it are its oldest undelivered ones. Fails only when the outbox cannot be read.
 *
 * A member blocked by a failing event while it has `batchSize` or more undelivered events fills the
 * batch and holds back the others until it is delivered; keep `batchSize` well above a member's
 * events between two deliveries.
 *
 * @since 0.1.0
 * @category delivery
 */
export const deliverPending = (
  options: Options
): Effect.Effect<PassResult, StoreError.StoreError, Outbox.Outbox | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    const http = yield* HttpClient.HttpClient
    const batchSize = options.batchSize ?? 200
    const events = yield* outbox.undelivered({ limit: batchSize })
    const byMember = new Map<Member.MemberGuid, Array<Outbox.OutboxEvent>>()
    for (const event of events) {
      const group = byMember.get(event.memberGuid)
      if (group === undefined) byMember.set(event.memberGuid, [event])
      else group.push(event)
    }
    const results = yield* Effect.forEach(
      byMember.values(),
      (group) => deliverMember(http, outbox, options, group),
      { concurrency: options.concurrency ?? 8 }
    )
    return {
      delivered: results.reduce((n, r) => n + r.delivered, 0),
      blockedMembers: results.filter((r) => r.blocked).length,
      full: events.length >= batchSize
    }
  })

/**
 * Passes until the outbox holds nothing deliverable (a full batch that delivered something is
 * followed at once by another pass).
 */
const drain = (options: Options) =>
  deliverPending(options).pipe(
    Effect.repeat({ while: (result) => result.full && result.delivered > 0 })
  )

/**
 * The delivery loop: drains the outbox every `pollInterval`. It never ends and never fails: a failed
 * pass is logged and the next one runs.
 *
 * @since 0.1.0
 * @category delivery
 */
export const make = (options: Options): Effect.Effect<never, never, Outbox.Outbox | HttpClient.HttpClient> =>
  drain(options).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("partner notification pass failed", cause)),
    Effect.repeat(Schedule.spaced(options.pollInterval ?? "1 second")),
    Effect.zipRight(Effect.never),
    Effect.annotateLogs({ service: "Notifications" })
  )

/**
 * The delivery loop forked for the life of the layer, in this process (every replica that has it
 * delivers; see the module comment).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, never, Outbox.Outbox | HttpClient.HttpClient> =>
  Layer.scopedDiscard(Effect.forkScoped(make(options)))

/**
 * The delivery loop as a cluster singleton: one replica delivers at a time.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSingleton = (options: Options) => Singleton.make("mx-aggregation-notifications", make(options))

/**
 * Why `url` may not receive notifications, or nothing when it may: https anywhere; http only to a
 * loopback address (127.0.0.0/8, ::1, localhost) unless `allowHttp`, because a plain-HTTP body and
 * its signature are readable by anyone on the way (the signature stops forgery, not reading).
 *
 * @since 0.1.0
 * @category config
 */
export const urlProblem = (url: string, allowHttp: boolean): Option.Option<string> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Option.some("is not a URL")
  }
  if (parsed.protocol === "https:") return Option.none()
  if (parsed.protocol !== "http:") return Option.some("must be an https URL (or http to a loopback address)")
  if (allowHttp || isLoopback(parsed.hostname)) return Option.none()
  return Option.some(
    "is plain http to a host that is not loopback: use https, or set WORKER_NOTIFY_ALLOW_HTTP=true to accept it"
  )
}

/** A URL's hostname (as `URL` normalises it: `127.1` is `127.0.0.1`, IPv6 in brackets) is this machine. */
const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * The deliverer's settings from the environment: `WORKER_NOTIFY_URL` (https, or http to a loopback
 * address; any http with `WORKER_NOTIFY_ALLOW_HTTP=true`) and `WORKER_NOTIFY_SECRET` (required with
 * the URL, a Standard Webhooks secret `whsec_<base64 of 24 to 64 bytes>`, kept redacted). None when
 * `WORKER_NOTIFY_URL` is unset: notifications are off and events stay in the outbox (readable through
 * the control API). A bad value fails with the variable's name and never shows the secret.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Option.Option<Options>> = Config.all({
  url: Config.option(Config.string("WORKER_NOTIFY_URL")),
  allowHttp: Config.boolean("WORKER_NOTIFY_ALLOW_HTTP").pipe(Config.withDefault(false)),
  secret: Config.option(Config.redacted("WORKER_NOTIFY_SECRET"))
}).pipe(
  Config.mapOrFail(({ allowHttp, secret, url }) => {
    if (Option.isNone(url)) return Either.right(Option.none())
    const problem = urlProblem(url.value.trim(), allowHttp)
    if (Option.isSome(problem)) {
      return Either.left(ConfigError.InvalidData(["WORKER_NOTIFY_URL"], `WORKER_NOTIFY_URL ${problem.value}`))
    }
    if (Option.isNone(secret)) {
      return Either.left(
        ConfigError.MissingData(["WORKER_NOTIFY_SECRET"], "WORKER_NOTIFY_SECRET must be set with WORKER_NOTIFY_URL")
      )
    }
    return Either.match(NotificationSignature.parseSecret(secret.value), {
      onLeft: (error) =>
        Either.left(ConfigError.InvalidData(["WORKER_NOTIFY_SECRET"], `WORKER_NOTIFY_SECRET: ${error.message}`)),
      onRight: (signing) => Either.right(Option.some({ url: url.value.trim(), secret: signing }))
    })
  })
)

/**
 * The singleton deliverer from the environment (`config`), or nothing when `WORKER_NOTIFY_URL` is unset.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = Layer.unwrapEffect(
  Effect.map(config, Option.match({ onNone: () => Layer.empty, onSome: layerSingleton }))
)
