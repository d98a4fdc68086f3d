/**
 * Turns every failure of a control-API request into a problem response (`Problem`), whatever raised
 * it: a handler's typed error, the framework's decode error, a body that is not JSON, an unknown
 * route, or a defect (a 500 whose cause is logged, not shown). Headers the problem calls for go with
 * it: `WWW-Authenticate: Bearer` on 401, `Retry-After` on 429 and 503.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpServerError, HttpServerResponse } from "@effect/platform"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { Cause, Effect, Option, Schema } from "effect"
import * as Problem from "./Problem.js"

/**
 * The realm named in `WWW-Authenticate`.
 *
 * @since 0.1.0
 * @category constants
 */
export const realm = "mx-aggregation"

const encode = Schema.encodeSync(Problem.Problem)

/**
 * The response of a problem: its JSON as `application/problem+json`, with its status and headers.
 *
 * @since 0.1.0
 * @category responses
 */
export const toResponse = (problem: Problem.Problem): HttpServerResponse.HttpServerResponse => {
  const headers: Record<string, string> = {}
  if (problem.status === 401) headers["www-authenticate"] = `Bearer realm="${realm}"`
  if ("retryAfter" in problem && problem.retryAfter !== undefined) {
    headers["retry-after"] = String(Math.max(1, Math.ceil(problem.retryAfter)))
  }
  return HttpServerResponse.unsafeJson(encode(problem), {
    status: problem.status,
    contentType: Problem.contentType,
    headers
  })
}

const bodyTooLarge = (error: HttpServerError.RequestError): boolean =>
  error.cause instanceof Error && error.cause.message === "maxBytes exceeded"

/**
 * The problem a failed request answers with, and whether the failure must be logged (the unexpected
 * ones: their cause is never shown to the client).
 *
 * @since 0.1.0
 * @category responses
 */
export const problemOf = (
  cause: Cause.Cause<unknown>
): { readonly problem: Problem.Problem; readonly log: boolean } => {
  const error = Option.getOrElse(Cause.failureOption(cause), () => Cause.squash(cause))
  if (Problem.isProblem(error)) return { problem: error, log: false }
  if (error instanceof HttpApiDecodeError) return { problem: Problem.fromDecodeError(error), log: false }
  if (HttpServerError.isServerError(error)) {
    switch (error._tag) {
      case "RouteNotFound":
        return { problem: new Problem.NotFound({ detail: "No such route" }), log: false }
      case "RequestError":
        // Never the parser's message: it quotes the body.
        return {
          problem: bodyTooLarge(error)
            ? new Problem.PayloadTooLarge({ detail: "The request body is larger than the limit" })
            : new Problem.BadRequest({
              detail: "The request body could not be read: it must be valid JSON",
              issues: [new Problem.Issue({ path: [], problem: "is not valid JSON" })]
            }),
          log: false
        }
    }
  }
  return {
    problem: new Problem.InternalError({ detail: "The worker failed unexpectedly; the cause is logged" }),
    log: true
  }
}

/**
 * The API middleware that answers every failed request with its problem (an interruption stays one:
 * the client went away).
 *
 * @since 0.1.0
 * @category middleware
 */
export const layer = HttpApiBuilder.middleware((app) =>
  Effect.catchAllCause(app, (cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const { log, problem } = problemOf(cause)
    const response = Effect.succeed(toResponse(problem))
    return log ? Effect.zipRight(Effect.logError("control API request failed", cause), response) : response
  })
)
