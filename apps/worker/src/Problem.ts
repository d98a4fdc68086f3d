/**
 * The control API's errors as RFC 9457 problem details: every 4xx and 5xx answer is
 * `application/problem+json` with `type`, `title`, `status` and `detail`, plus `_tag` (which error it
 * is, for `HttpApiClient`) and a few extension members (`problems`, `issues`, `reason`, `retryAfter`).
 *
 * A problem never repeats a value the client sent: a request that does not match the API names the
 * fields that are wrong and what was expected there, never what was found (Schema's own messages say
 * "Expected string, actual 123456", which would echo an MFA answer sent as a number).
 *
 * @since 0.1.0
 */
import { HttpApiSchema } from "@effect/platform"
import type { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { Mfa } from "@mx-aggregation/domain"
import { Schema } from "effect"

/**
 * The media type of every problem.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "application/problem+json"

/**
 * The prefix of every problem `type`: a tag URI (RFC 4151), which names the kind of problem without
 * pretending to be a page one can fetch.
 *
 * @since 0.1.0
 * @category constants
 */
export const typePrefix = "tag:mx-aggregation,2026:problem:"

/**
 * Seconds a client should wait before trying again after a 503 (the database or MX unreachable).
 *
 * @since 0.1.0
 * @category constants
 */
export const unavailableRetryAfter = 5

const withDefault = <S extends Schema.Schema<any, any, never>>(schema: S, value: Schema.Schema.Type<S>) =>
  Schema.propertySignature(schema).pipe(Schema.withConstructorDefault(() => value))

/** The RFC 9457 members; `type`, `title` and `status` are fixed for each kind of problem. */
const members = <const Status extends number>(status: Status, name: string, title: string) => ({
  type: withDefault(Schema.String, `${typePrefix}${name}`),
  title: withDefault(Schema.String, title),
  status: withDefault(Schema.Literal(status), status),
  detail: Schema.String
})

const annotations = <A>(status: number): Schema.Annotations.Schema<A> => ({
  ...HttpApiSchema.annotations<A>({ status }),
  [HttpApiSchema.AnnotationEncoding]: { kind: "Json", contentType } satisfies HttpApiSchema.Encoding
})

/** `Retry-After`, in seconds, for the problems that have one. */
const retryAfter = Schema.optional(Schema.Number)

/**
 * Missing or wrong bearer token (answered with `WWW-Authenticate: Bearer`).
 *
 * @since 0.1.0
 * @category problems
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  members(401, "unauthorized", "Missing or invalid bearer token"),
  annotations(401)
) {
  override get message() {
    return this.detail
  }
}

/**
 * No such member (or not tracked), no pending challenge, or no such route.
 *
 * @since 0.1.0
 * @category problems
 */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  members(404, "not-found", "Not found"),
  annotations(404)
) {
  override get message() {
    return this.detail
  }
}

/**
 * The request conflicts with the member's state (e.g. MFA answers for a member that is not waiting, or
 * whose round another submission answered meanwhile; new credentials for a member MX no longer asks
 * them for; erasing a member while a run is active).
 *
 * @since 0.1.0
 * @category problems
 */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  members(409, "conflict", "Conflict with the member's state"),
  annotations(409)
) {
  override get message() {
    return this.detail
  }
}

/**
 * The request is well-formed but its content is refused (e.g. answers that do not fit the challenges).
 *
 * @since 0.1.0
 * @category problems
 */
export class Invalid extends Schema.TaggedError<Invalid>()(
  "Invalid",
  {
    ...members(400, "invalid", "The request's content is refused"),
    problems: Schema.optional(Schema.Array(Mfa.AnswerProblem))
  },
  annotations(400)
) {
  override get message() {
    return this.detail
  }
}

/**
 * One way in which a request does not match the API: where (`path`, e.g. `answers.0.value`; empty for
 * the whole body) and what was expected there. Never the value found.
 *
 * @since 0.1.0
 * @category models
 */
export class Issue extends Schema.Class<Issue>("Issue")({
  path: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  problem: Schema.String
}) {}

/**
 * The request does not match the API: a body that is not JSON, a field of the wrong type, a query or
 * path parameter out of range. `issues` lists where.
 *
 * @since 0.1.0
 * @category problems
 */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { ...members(400, "bad-request", "The request does not match the API"), issues: Schema.Array(Issue) },
  annotations(400)
) {
  override get message() {
    return this.detail
  }
}

/**
 * The request body is larger than the configured limit.
 *
 * @since 0.1.0
 * @category problems
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  members(413, "payload-too-large", "Request body too large"),
  annotations(413)
) {
  override get message() {
    return this.detail
  }
}

/**
 * The client sent more requests than its limit allows (answered with `Retry-After`).
 *
 * @since 0.1.0
 * @category problems
 */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()(
  "TooManyRequests",
  { ...members(429, "too-many-requests", "Too many requests"), retryAfter },
  annotations(429)
) {
  override get message() {
    return this.detail
  }
}

/**
 * An unexpected failure of the worker (logged with its cause; the cause is not shown).
 *
 * @since 0.1.0
 * @category problems
 */
export class InternalError extends Schema.TaggedError<InternalError>()(
  "InternalError",
  members(500, "internal-error", "Internal error"),
  annotations(500)
) {
  override get message() {
    return this.detail
  }
}

/**
 * MX failed or refused the call the request needed (`reason`: `MxApiError`'s).
 *
 * @since 0.1.0
 * @category problems
 */
export class Upstream extends Schema.TaggedError<Upstream>()(
  "Upstream",
  { ...members(502, "upstream", "MX failed the call"), reason: Schema.String },
  annotations(502)
) {
  override get message() {
    return this.detail
  }
}

/**
 * The worker's database is unreachable: the request did nothing; try again after `retryAfter`
 * seconds (also the `Retry-After` header).
 *
 * @since 0.1.0
 * @category problems
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { ...members(503, "unavailable", "The worker's database is unavailable"), retryAfter },
  annotations(503)
) {
  override get message() {
    return this.detail
  }
}

/**
 * `GET /ready`: the database is not reachable.
 *
 * @since 0.1.0
 * @category problems
 */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { ...members(503, "not-ready", "Not ready"), retryAfter },
  annotations(503)
) {
  override get message() {
    return this.detail
  }
}

/**
 * The request took longer than the configured timeout (e.g. MX answering slowly); what it started may
 * still complete.
 *
 * @since 0.1.0
 * @category problems
 */
export class Timeout extends Schema.TaggedError<Timeout>()(
  "Timeout",
  { ...members(503, "timeout", "The request took too long"), retryAfter },
  annotations(503)
) {
  override get message() {
    return this.detail
  }
}

/**
 * Every problem of the control API.
 *
 * @since 0.1.0
 * @category problems
 */
export const Problem = Schema.Union(
  Unauthorized,
  NotFound,
  Conflict,
  Invalid,
  BadRequest,
  PayloadTooLarge,
  TooManyRequests,
  InternalError,
  Upstream,
  Unavailable,
  NotReady,
  Timeout
)

/**
 * @since 0.1.0
 * @category problems
 */
export type Problem = typeof Problem.Type

/**
 * Whether a value is one of the API's problems.
 *
 * @since 0.1.0
 * @category guards
 */
export const isProblem: (u: unknown) => u is Problem = Schema.is(Problem)

/**
 * Marks every error response of an OpenAPI document as `application/problem+json` (an `OpenApi.Transform`).
 * The generator reads the media type from a response's Schema, which works for a status with one
 * problem; for a status with several (400, 503) it sees their union and falls back to JSON.
 *
 * @since 0.1.0
 * @category documentation
 */
export const documentProblems = (spec: Record<string, any>): Record<string, any> => {
  for (const operations of Object.values<Record<string, any>>(spec["paths"] ?? {})) {
    for (const operation of Object.values<Record<string, any>>(operations)) {
      for (const [status, response] of Object.entries<Record<string, any>>(operation?.["responses"] ?? {})) {
        const content = response["content"]
        if (Number(status) < 400 || content?.["application/json"] === undefined) continue
        response["content"] = { [contentType]: content["application/json"] }
      }
    }
  }
  return spec
}

/** Issues listed in a problem; a request with more gets the first ones. */
const maxIssues = 20

/** Longest description of an expected value kept (a Struct's full signature says little more). */
const maxExpected = 120

/**
 * What was expected, from Schema's message "Expected <what>, actual <value>": the part before
 * ", actual", which comes from the Schema (its type or description), never from the input.
 */
const expectedOf = (message: string): string | undefined => {
  const match = /^Expected (.+?), actual /s.exec(message)
  if (match === null) return undefined
  const expected = match[1]!
  return expected.length > maxExpected ? undefined : `expected ${expected}`
}

const problemOf = (issue: HttpApiDecodeError["issues"][number]): string => {
  switch (issue._tag) {
    case "Missing":
      return "is missing"
    case "Unexpected":
      return "is not allowed here"
    case "Forbidden":
      return "could not be read"
    default:
      return expectedOf(issue.message) ?? "has the wrong type or format"
  }
}

const formatPath = (
  path: ReadonlyArray<string | number>
): string => (path.length === 0 ? "the request" : path.join("."))

/**
 * The problem of a request that does not match the API, from the framework's decode error: its issues'
 * paths and what was expected, without its messages (which hold the values found).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDecodeError = (error: HttpApiDecodeError): BadRequest => {
  const all = error.issues.map((issue) =>
    new Issue({
      path: issue.path.map((key) => (typeof key === "number" ? key : String(key))),
      problem: problemOf(issue)
    })
  )
  // An optional field is a union with `undefined`, which Schema reports as a second issue.
  const issues = all.filter((issue) =>
    issue.problem !== "expected undefined" ||
    !all.some((other) => other !== issue && formatPath(other.path) === formatPath(issue.path))
  ).slice(0, maxIssues)
  return new BadRequest({
    detail: issues.length === 0
      ? "The request does not match the API"
      : `The request does not match the API: ${issues.map((i) => `${formatPath(i.path)} ${i.problem}`).join("; ")}`,
    issues
  })
}
