/**
 * One log line per control-API request: method, path and status. The query string is left out: a
 * client that puts its token there (`?access_token=…`, which RFC 6750 allows and this API does not
 * accept) must not find it in the worker's logs.
 *
 * @since 0.1.0
 */
import { HttpMiddleware, HttpServerError, HttpServerRequest } from "@effect/platform"
import { Effect, Exit } from "effect"

/**
 * The path of a request URL, without its query string or fragment.
 *
 * @since 0.1.0
 * @category logging
 */
export const pathOf = (url: string): string => url.replace(/[?#].*$/s, "")

/**
 * The request-log middleware (in place of `HttpMiddleware.logger`, which logs the whole URL).
 *
 * @since 0.1.0
 * @category middleware
 */
export const logger = HttpMiddleware.make((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const exit = yield* Effect.exit(app)
    // Failures are answered as problems before they get here; what is left is a client gone (499).
    const status = Exit.isSuccess(exit)
      ? exit.value.status
      : HttpServerError.causeResponseStripped(exit.cause)[0].status
    yield* Effect.log("Sent HTTP response").pipe(
      Effect.annotateLogs({ "http.method": request.method, "http.path": pathOf(request.url), "http.status": status })
    )
    return yield* exit
  }).pipe(Effect.withLogSpan("http.span"))
)
