/**
 * The one error of the MX client: every non-2xx answer, transport failure and undecodable body of an
 * MX call becomes an `MxApiError` with a `reason`, the HTTP status (when there was one), the operation
 * and MX's message.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"

/**
 * Why an MX call failed. The HTTP statuses follow MX's errors page (MX-REFERENCE §6):
 *
 * - `BadRequest` 400: a required parameter was missing, or the institution does not support the job.
 * - `Unauthorized` 401: wrong client id or API key.
 * - `Forbidden` 403: a non-allow-listed address, or a feature not enabled for the client.
 * - `NotFound` 404: an unknown guid, institution code or URL.
 * - `NotAllowed` 405: a constraint of the endpoint was not met (resume on a member not CHALLENGED).
 * - `NotAcceptable` 406: the request did not name a valid API version.
 * - `Conflict` 409: a duplicate object, or a different kind of aggregation job running.
 * - `Unprocessable` 422: the data cannot be processed.
 * - `RateLimited` 429: too many requests or connections.
 * - `Unavailable` 503: the platform is being updated.
 * - `ServerError` 500, 502, 504 and any other 5xx.
 * - `UnexpectedStatus`: any other non-2xx status (another 4xx, a 1xx or a 3xx).
 * - `Transport`: no HTTP answer (connection refused or reset, DNS, timeout).
 * - `Decode`: an answer whose body is not the JSON the operation expects.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literal(
  "BadRequest",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "NotAllowed",
  "NotAcceptable",
  "Conflict",
  "Unprocessable",
  "RateLimited",
  "Unavailable",
  "ServerError",
  "UnexpectedStatus",
  "Transport",
  "Decode"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * A failed MX call. `message` is MX's own message when its body carried one (`{"error": "…"}` or
 * `{"error": {"message": "…"}}`), otherwise a description of what happened. It never holds the API
 * key, credentials or MFA answers: those are `Redacted` and the error keeps no request.
 *
 * @since 0.1.0
 * @category errors
 */
export class MxApiError extends Schema.TaggedError<MxApiError>("@mx-aggregation/mx-api/MxApiError")("MxApiError", {
  reason: Reason,
  /** The HTTP status, absent for `Transport` failures. */
  status: Schema.optional(Schema.Int),
  /** The client operation, named after MX's operationId (`readMemberStatus`). */
  operation: Schema.String,
  message: Schema.String,
  /** The delay a server asked for in `Retry-After`, in milliseconds. */
  retryAfterMillis: Schema.optional(Schema.Number)
}) {}

/**
 * The reason for a non-2xx HTTP status.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reasonFromStatus = (status: number): Reason => {
  switch (status) {
    case 400:
      return "BadRequest"
    case 401:
      return "Unauthorized"
    case 403:
      return "Forbidden"
    case 404:
      return "NotFound"
    case 405:
      return "NotAllowed"
    case 406:
      return "NotAcceptable"
    case 409:
      return "Conflict"
    case 422:
      return "Unprocessable"
    case 429:
      return "RateLimited"
    case 503:
      return "Unavailable"
    default:
      return status >= 500 && status <= 599 ? "ServerError" : "UnexpectedStatus"
  }
}

/**
 * Whether MX certainly did not act on the request: it was refused before any processing (429 rate
 * limit, 503 platform update). Retrying such a failure is safe for every operation, even a create.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isNotProcessed = (error: MxApiError): boolean =>
  error.reason === "RateLimited" || error.reason === "Unavailable"

/**
 * Whether a failure is transient: a retry may succeed. True for 429, every 5xx and transport
 * failures; never for other 4xx (the same request would fail the same way) nor for decode failures.
 * Whether the outcome of the failed attempt is known is a separate question: see `isNotProcessed`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (error: MxApiError): boolean =>
  isNotProcessed(error) || error.reason === "ServerError" || error.reason === "Transport"

const MessageBody = Schema.Union(
  Schema.Struct({ error: Schema.String }),
  Schema.Struct({ error: Schema.Struct({ message: Schema.String }) }),
  Schema.Struct({ message: Schema.String })
)

const decodeMessageBody = Schema.decodeUnknownOption(Schema.parseJson(MessageBody))

/** Longest MX message kept: an HTML error page from a proxy should not become a huge message. */
const maxMessageLength = 500

/**
 * MX's message from an error body, if the body is JSON of one of the shapes MX uses. MX's error body
 * is undocumented for the Platform API; the SSO API documents `{"error": "…"}` and the commonly seen
 * Platform shape is `{"error": {"message": "…"}}`, so both (and a bare `{"message": "…"}`) are read.
 *
 * @since 0.1.0
 * @category parsing
 */
export const messageFromBody = (body: string): Option.Option<string> =>
  decodeMessageBody(body).pipe(
    Option.map((parsed) =>
      "message" in parsed ? parsed.message : typeof parsed.error === "string" ? parsed.error : parsed.error.message
    ),
    Option.map((message) => message.trim()),
    Option.filter((message) => message.length > 0),
    Option.map((message) => message.length > maxMessageLength ? `${message.slice(0, maxMessageLength)}…` : message)
  )

/**
 * Reads a `Retry-After` header (seconds, or an HTTP date relative to `nowMillis`) as milliseconds.
 * MX documents no such header; a proxy or a future MX may send it, and it is honoured when present.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter = (header: string | undefined, nowMillis: number): Option.Option<number> => {
  if (header === undefined) return Option.none()
  const trimmed = header.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Option.some(Math.round(Number(trimmed) * 1000))
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? Option.none() : Option.some(Math.max(0, date - nowMillis))
}
