/**
 * MX webhooks in, on a listener of their own (`WORKER_WEBHOOK_PORT`), so that the control API need not
 * face MX. MX's webhook configuration takes HTTP Basic credentials in the URL registered with it
 * (`https://user:password@host:port/webhooks/mx`): every request without them gets 401 before its body
 * is read, and causes nothing. An authenticated webhook is answered 204 at once, whether or not the
 * member is tracked, so that the answer tells nothing about the worker's members; it is then handed to
 * `Aggregations.webhook` as a hint (wake the member's polling run, or a run that reads MX and never
 * calls aggregate), at most one per member per `EngineConfig.webhookDebounce`.
 *
 * @since 0.1.0
 */
import {
  HttpIncomingMessage,
  HttpServer,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Webhook } from "@mx-aggregation/domain"
import {
  Cause,
  Config,
  ConfigError,
  Context,
  Effect,
  Either,
  Layer,
  Option,
  Queue,
  Redacted,
  Ref,
  Schema
} from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Aggregations } from "./Aggregations.js"
import * as Listener from "./Listener.js"
import type * as Tls from "./Tls.js"

/**
 * The path MX posts to.
 *
 * @since 0.1.0
 * @category constants
 */
export const path = "/webhooks/mx"

/**
 * Webhooks received but not yet handled, at most; more are answered 204 and dropped (a webhook is a
 * hint: the runs' polls and the scheduler see every change anyway).
 *
 * @since 0.1.0
 * @category constants
 */
export const queueCapacity = 1024

/** Webhooks handled at once: each costs a few statements and at most one MX read. */
const concurrency = 4

/**
 * An MX webhook as the worker reads it: the domain's `Webhook.Received` (the member it names and what
 * kind it is; other fields, nulls and new fields ignored).
 *
 * @since 0.1.0
 * @category models
 */
export const MxWebhook = Webhook.Received

/**
 * @since 0.1.0
 * @category models
 */
export type MxWebhook = Webhook.Received

/**
 * The kind of a webhook, as `Aggregations.webhook` takes it.
 *
 * @since 0.1.0
 * @category models
 */
export const kindOf = (webhook: MxWebhook): string =>
  webhook.action === "member_data_updated" ? "member_data_updated" : webhook.type ?? "unknown"

/**
 * The Basic credentials MX sends.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/**
 * The credentials of an `Authorization: Basic …` header, if it holds any.
 *
 * @since 0.1.0
 * @category security
 */
export const parseBasic = (authorization: string | undefined): Option.Option<Credentials> => {
  const match = authorization === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(authorization)
  if (match === null) return Option.none()
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return Option.none()
  return Option.some({ username: decoded.slice(0, colon), password: Redacted.make(decoded.slice(colon + 1)) })
}

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest()

/**
 * A check of `Authorization` headers against the expected credentials, in constant time: both parts
 * are always compared, as equal-length digests, so that the time tells neither which part differed nor
 * how long either is.
 *
 * @since 0.1.0
 * @category security
 */
export const authenticator = (expected: Credentials) => {
  const username = digest(expected.username)
  const password = digest(Redacted.value(expected.password))
  return (authorization: string | undefined): boolean => {
    const given = parseBasic(authorization)
    const sameUser = timingSafeEqual(
      username,
      digest(Option.match(given, { onNone: () => "", onSome: (c) => c.username }))
    )
    const samePassword = timingSafeEqual(
      password,
      digest(Option.match(given, { onNone: () => "", onSome: (c) => Redacted.value(c.password) }))
    )
    return Option.isSome(given) && sameUser && samePassword
  }
}

/**
 * Options of the listener.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Credentials {
  readonly port: number
  readonly host: string
  /** HTTPS with these; plain HTTP without. */
  readonly tls?: Tls.Credentials | undefined
  /** Largest body read (413 above it). Default 64 KiB; MX's payloads are far smaller. */
  readonly maxBodyBytes?: number | undefined
}

/**
 * The listener's settings from the environment, without TLS (shared with the control API).
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = Omit<Options, "tls" | "maxBodyBytes">

/**
 * The shortest `WORKER_WEBHOOK_PASSWORD` accepted: the listener faces the network, and MX stores the
 * password in its webhook configuration, so it is a generated secret, not something to remember.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimumPasswordLength = 24

/**
 * `WORKER_WEBHOOKS=true` turns the listener on: `WORKER_WEBHOOK_PORT` (default 8788),
 * `WORKER_WEBHOOK_HOST` (default 127.0.0.1), and the Basic credentials registered at MX,
 * `WORKER_WEBHOOK_USERNAME` and `WORKER_WEBHOOK_PASSWORD` (both required then).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Option.Option<Settings>> = Config.all({
  enabled: Config.boolean("WORKER_WEBHOOKS").pipe(Config.withDefault(false)),
  port: Config.port("WORKER_WEBHOOK_PORT").pipe(Config.withDefault(8788)),
  host: Config.nonEmptyString("WORKER_WEBHOOK_HOST").pipe(Config.withDefault("127.0.0.1")),
  username: Config.option(Config.nonEmptyString("WORKER_WEBHOOK_USERNAME")),
  password: Config.option(Config.redacted(Config.nonEmptyString("WORKER_WEBHOOK_PASSWORD")))
}).pipe(
  Config.mapOrFail(({ enabled, host, password, port, username }) => {
    if (!enabled) return Either.right(Option.none())
    if (Option.isNone(username)) {
      return Either.left(ConfigError.MissingData(
        ["WORKER_WEBHOOK_USERNAME"],
        "WORKER_WEBHOOK_USERNAME must be set with WORKER_WEBHOOKS=true: MX authenticates its webhooks with it"
      ))
    }
    if (username.value.includes(":")) {
      return Either.left(ConfigError.InvalidData(
        ["WORKER_WEBHOOK_USERNAME"],
        "WORKER_WEBHOOK_USERNAME must not contain \":\" (HTTP Basic credentials cannot carry it)"
      ))
    }
    if (Option.isNone(password)) {
      return Either.left(ConfigError.MissingData(
        ["WORKER_WEBHOOK_PASSWORD"],
        "WORKER_WEBHOOK_PASSWORD must be set with WORKER_WEBHOOKS=true: MX authenticates its webhooks with it"
      ))
    }
    if (Redacted.value(password.value).length < minimumPasswordLength) {
      return Either.left(ConfigError.InvalidData(
        ["WORKER_WEBHOOK_PASSWORD"],
        `WORKER_WEBHOOK_PASSWORD must be at least ${minimumPasswordLength} characters (generate one, e.g. ` +
          "`openssl rand -hex 16`)"
      ))
    }
    return Either.right(Option.some({ port, host, username: username.value, password: password.value }))
  })
)

/**
 * The running listener.
 *
 * @since 0.1.0
 * @category tags
 */
export class WebhookListener extends Context.Tag("@mx-aggregation/worker/WebhookListener")<WebhookListener, {
  readonly address: HttpServer.Address
  /** Webhooks handled so far (handed to `Aggregations.webhook`, whatever it did). */
  readonly handled: Effect.Effect<number>
}>() {}

const problem = (status: number, tag: string, message: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status, headers })

const unauthorized = problem(401, "Unauthorized", "MX webhooks need the Basic credentials configured at MX", {
  "www-authenticate": "Basic realm=\"mx-webhooks\", charset=\"UTF-8\""
})

/**
 * The listener's HTTP app: authenticate, then read and queue the webhook.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApp = (options: {
  readonly credentials: Credentials
  readonly maxBodyBytes: number
  readonly offer: (webhook: MxWebhook) => Effect.Effect<unknown>
}) => {
  const authenticated = authenticator(options.credentials)
  const decode = Schema.decodeUnknownOption(MxWebhook)
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    // Before anything else: an unauthenticated request gets nothing read, written or asked of MX.
    if (!authenticated(request.headers["authorization"])) return unauthorized
    if (request.url.split("?")[0] !== path) return problem(404, "NotFound", `MX webhooks are received at ${path}`)
    if (request.method !== "POST") {
      return problem(405, "MethodNotAllowed", "MX webhooks are POSTed", { allow: "POST" })
    }
    const length = Number(request.headers["content-length"] ?? "0")
    if (Number.isFinite(length) && length > options.maxBodyBytes) {
      return problem(413, "PayloadTooLarge", `The body is larger than ${options.maxBodyBytes} bytes`)
    }
    const body = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(options.maxBodyBytes)),
      Effect.timeout("10 seconds"),
      Effect.either
    )
    if (Either.isLeft(body)) return problem(400, "BadRequest", "The body could not be read")
    const json = Either.try(() => JSON.parse(body.right) as unknown)
    if (Either.isLeft(json)) return problem(400, "BadRequest", "The body must be JSON")
    // A payload the worker does not act on is still received: MX would resend it on an error.
    yield* Option.match(decode(json.right), { onNone: () => Effect.void, onSome: options.offer })
    return HttpServerResponse.empty({ status: 204 })
  })
}

const make = (options: Options) =>
  Effect.gen(function*() {
    const aggregations = yield* Aggregations
    const queue = yield* Effect.acquireRelease(Queue.dropping<MxWebhook>(queueCapacity), Queue.shutdown)
    const handled = yield* Ref.make(0)
    const handle = (webhook: MxWebhook) =>
      aggregations.webhook({ type: kindOf(webhook), memberGuid: webhook.member_guid }).pipe(
        Effect.flatMap((result) => Effect.logDebug(`MX webhook: ${result}`)),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logWarning("an MX webhook could not be handled", cause)
        ),
        Effect.ensuring(Ref.update(handled, (n) => n + 1)),
        Effect.annotateLogs({ memberGuid: webhook.member_guid, webhook: kindOf(webhook) })
      )
    for (let i = 0; i < concurrency; i++) {
      yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), handle)))
    }
    yield* HttpServer.serveEffect(makeApp({
      credentials: options,
      maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
      offer: (webhook) =>
        Effect.flatMap(Queue.offer(queue, webhook), (queued) =>
          queued ? Effect.void : Effect.logWarning("MX webhook dropped: too many waiting"))
    }))
    const server = yield* HttpServer.HttpServer
    // `HttpServer.formatAddress` says http:// whatever the server: the scheme is the listener's own.
    const scheme = options.tls === undefined ? "http" : "https"
    yield* Effect.logInfo(`MX webhooks: listening on ${
      server.address._tag === "TcpAddress"
        ? `${scheme}://${server.address.hostname}:${server.address.port}${path}`
        : HttpServer.formatAddress(server.address)
    }`)
    return WebhookListener.of({ address: server.address, handled: Ref.get(handled) })
  })

/**
 * The listener on `host:port` (port 0: a free port; read it back from `WebhookListener`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<WebhookListener, HttpServerError.ServeError, Aggregations> =>
  Layer.scoped(WebhookListener, make(options)).pipe(
    Layer.provide(Listener.layer(options))
  )
