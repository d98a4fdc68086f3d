/**
 * The control API's bearer-token authentication against the configured token (`WORKER_API_TOKEN`).
 *
 * @since 0.1.0
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { timingSafeEqual } from "node:crypto"
import { Authorization } from "./ControlApi.js"
import { Unauthorized } from "./Problem.js"

/**
 * Compares the bearer token in constant time (no early exit on the first differing byte).
 *
 * @since 0.1.0
 * @category security
 */
export const tokenMatches = (expected: Redacted.Redacted<string>, given: Redacted.Redacted<string>): boolean => {
  const a = Buffer.from(Redacted.value(expected))
  const b = Buffer.from(Redacted.value(given))
  // Compare equal-length buffers always, so that the time does not reveal the token's length either.
  const padded = Buffer.alloc(a.length)
  b.copy(padded, 0, 0, Math.min(a.length, b.length))
  return timingSafeEqual(a, padded) && a.length === b.length
}

/**
 * Whether an `Authorization` header uses the Bearer scheme (RFC 6750; the scheme is case-insensitive).
 *
 * @since 0.1.0
 * @category security
 */
export const isBearer = (authorization: string | undefined): boolean => /^bearer /i.test(authorization ?? "")

/**
 * Bearer-token authentication against the configured token. The framework hands over the header
 * without its first seven characters whatever they are, so the scheme is checked here: `Tokens <token>`
 * is not `Bearer <token>`.
 *
 * @since 0.1.0
 * @category layers
 */
export const AuthorizationLive = (token: Redacted.Redacted<string>) =>
  Layer.succeed(
    Authorization,
    Authorization.of({
      bearer: (given) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          isBearer(request.headers["authorization"]) && tokenMatches(token, given)
            ? Effect.void
            : Effect.fail(new Unauthorized({ detail: "Send the worker's token as Authorization: Bearer <token>" })))
    })
  )
