/**
 * Limits that keep the control API available under misuse: a rate limit per client (on
 * `@effect/experimental`'s `RateLimiter`), the largest request body, and a request timeout. The
 * rate limit comes first, before the token is checked, so that guessing tokens costs requests like
 * anything else.
 *
 * A client is its address and whether it presented the API's token: requests with the token and
 * requests without it (or with a wrong one) from one address have separate budgets, so that a token
 * guesser behind the same address as the partner exhausts its own budget only. The address is the
 * socket's, unless the worker is told it sits behind a proxy it trusts (`trustProxy`): then it is the
 * first address of `X-Forwarded-For`, which that proxy must set (a proxy that appends to a header the
 * client sent would let the client choose its own address).
 *
 * @since 0.1.0
 */
import { RateLimiter } from "@effect/experimental"
import { HttpApiBuilder, type HttpApp, HttpIncomingMessage, HttpServerRequest } from "@effect/platform"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { isIP } from "node:net"
import { isBearer, tokenMatches } from "./Authentication.js"
import { ControlApi } from "./ControlApi.js"
import * as Problem from "./Problem.js"

/**
 * The limits of the control API.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Largest request body accepted (413 above it). */
  readonly maxBodyBytes: number
  /** A request still unanswered after this gets 503. */
  readonly requestTimeout: Duration.DurationInput
  /** Requests per minute per client (429 above it), failed authentications included. */
  readonly requestsPerMinute: number
  /** The worker is behind a proxy that sets `X-Forwarded-For`: its first address is the client's. */
  readonly trustProxy?: boolean | undefined
}

/**
 * The default limits.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLimits: Limits = {
  maxBodyBytes: 64 * 1024,
  requestTimeout: "30 seconds",
  requestsPerMinute: 600,
  trustProxy: false
}

/**
 * The client's address: the first entry of `X-Forwarded-For` when the proxy is trusted and that entry
 * is an IP address, otherwise the socket's peer.
 *
 * @since 0.1.0
 * @category clients
 */
export const clientAddress = (request: HttpServerRequest.HttpServerRequest, trustProxy: boolean): string => {
  if (trustProxy) {
    const forwarded = request.headers["x-forwarded-for"]?.split(",")[0]?.trim()
    if (forwarded !== undefined && isIP(forwarded) !== 0) return forwarded
  }
  return Option.getOrElse(request.remoteAddress, () => "unknown")
}

/**
 * The rate limiter's key of a request: its client address, and whether it carries the API's token
 * (never the token itself, which a guesser could vary to get a fresh budget per guess).
 *
 * @since 0.1.0
 * @category clients
 */
export const clientKey = (
  request: HttpServerRequest.HttpServerRequest,
  options: { readonly token: Redacted.Redacted<string>; readonly trustProxy: boolean }
): string => {
  const authorization = request.headers["authorization"] ?? ""
  const authenticated = isBearer(authorization) &&
    tokenMatches(options.token, Redacted.make(authorization.slice("bearer ".length)))
  return `${authenticated ? "token" : "anonymous"}@${clientAddress(request, options.trustProxy)}`
}

/**
 * The rate limiter's in-memory store, emptied when it holds more than `maxKeys` clients: the library's
 * store keeps every key for ever, and with a trusted proxy every forwarded address is a key. Emptying
 * gives every client a fresh budget once, which bounds memory at the price of a burst.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreBounded = (maxKeys: number): Layer.Layer<RateLimiter.RateLimiterStore> =>
  Layer.effect(
    RateLimiter.RateLimiterStore,
    Effect.gen(function*() {
      const fresh = Effect.provide(RateLimiter.RateLimiterStore, RateLimiter.layerStoreMemory)
      let store = yield* fresh
      const keys = new Set<string>()
      const storeFor = (key: string) =>
        Effect.gen(function*() {
          if (!keys.has(key) && keys.size >= maxKeys) {
            keys.clear()
            store = yield* fresh
          }
          keys.add(key)
          return store
        })
      return RateLimiter.RateLimiterStore.of({
        fixedWindow: (options) => Effect.flatMap(storeFor(options.key), (s) => s.fixedWindow(options)),
        tokenBucket: (options) => Effect.flatMap(storeFor(options.key), (s) => s.tokenBucket(options))
      })
    })
  )

/** Clients remembered by the rate limiter before it starts afresh. */
const maxClients = 10_000

/**
 * The API middleware enforcing the limits: 429 (with `Retry-After`) over the rate, 413 over the body
 * size, 503 after the timeout, each as a problem.
 *
 * @since 0.1.0
 * @category middleware
 */
export const layer = (options: { readonly limits: Limits; readonly token: Redacted.Redacted<string> }) =>
  HttpApiBuilder.middleware(
    ControlApi,
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      const { limits, token } = options
      const trustProxy = limits.trustProxy === true
      // A token bucket refilled continuously: a client may burst up to its minute's budget.
      const consume = (key: string) =>
        limiter.consume({ algorithm: "token-bucket", window: "1 minute", limit: limits.requestsPerMinute, key })
      return (app: HttpApp.Default) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          yield* consume(clientKey(request, { token, trustProxy })).pipe(
            Effect.catchAll((error) =>
              Effect.fail(
                error.reason === "Exceeded"
                  ? new Problem.TooManyRequests({
                    detail: `More than ${limits.requestsPerMinute} requests a minute from this client; slow down`,
                    retryAfter: Duration.toSeconds(error.retryAfter)
                  })
                  : new Problem.InternalError({ detail: "The rate limiter failed" })
              )
            )
          )
          const length = Number(request.headers["content-length"] ?? "0")
          if (Number.isFinite(length) && length > limits.maxBodyBytes) {
            return yield* new Problem.PayloadTooLarge({
              detail: `The request body is larger than ${limits.maxBodyBytes} bytes`
            })
          }
          return yield* app.pipe(
            HttpIncomingMessage.withMaxBodySize(Option.some(limits.maxBodyBytes)),
            Effect.timeoutFail({
              duration: limits.requestTimeout,
              onTimeout: () =>
                new Problem.Timeout({
                  detail: "The request took too long; what it started may still complete",
                  retryAfter: Problem.unavailableRetryAfter
                })
            })
          )
        })
    })
  ).pipe(Layer.provide(RateLimiter.layer), Layer.provide(layerStoreBounded(maxClients)))
