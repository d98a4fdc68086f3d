/**
 * `MxClient`: a typed Effect service over the MX Platform API (v20111101). Every operation decodes
 * MX's JSON with Schemas into the domain types, fails with one `MxApiError`, retries transient
 * failures with `retrySchedule`, and passes a process-wide rate limiter and concurrency cap. List
 * operations are `Stream`s that fetch MX's pages lazily.
 *
 * @since 0.1.0
 */
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Account, Member, Schedules, Transaction } from "@mx-aggregation/domain"
import {
  Chunk,
  Clock,
  Config,
  type ConfigError,
  Context,
  Duration,
  Effect,
  Layer,
  Metric,
  Option,
  ParseResult,
  Redacted,
  Schedule,
  Schema,
  Stream
} from "effect"
import * as CallMetrics from "./CallMetrics.js"
import * as RequestLimiter from "./internal/requestLimiter.js"
import {
  isNotProcessed,
  isTransient,
  messageFromBody,
  MxApiError,
  parseRetryAfter,
  reasonFromStatus
} from "./MxApiError.js"
import { clampRecordsPerPage, fromWire, maxRecordsPerPage, PaginationWire, SkippedRow } from "./Pagination.js"
import type { Page } from "./Pagination.js"
import type { User } from "./User.js"
import { User as UserSchema } from "./User.js"

// ---------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------

/**
 * The member an operation acts on.
 *
 * @since 0.1.0
 * @category params
 */
export interface MemberRef {
  readonly userGuid: Member.UserGuid
  readonly memberGuid: Member.MemberGuid
}

/**
 * Paging of a list operation. `recordsPerPage` is clamped to MX's range (10 to 1000); the default is
 * the layer's `recordsPerPage` (1000: the fewest calls).
 *
 * A row MX sends that does not decode (an empty or null `guid`, a field of the wrong type) is left out
 * of the results instead of failing the list: it is logged (a warning with the operation, page, index
 * and field paths, never the row's values), counted in `rowsSkipped`, and passed to `onSkipped`, so
 * that a caller can tell a complete list from one with rows missing.
 *
 * @since 0.1.0
 * @category params
 */
export interface ListOptions {
  readonly recordsPerPage?: number
  /** Called once for each row left out, as the stream reaches its page. */
  readonly onSkipped?: (row: SkippedRow) => Effect.Effect<void>
}

/**
 * The count of list rows the client left out because they did not decode, tagged by `operation`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const rowsSkipped = CallMetrics.rowsSkipped

/**
 * The fields of a new user. Each is optional, but MX refuses an empty user object: its spec says of
 * `POST /users` "None of these parameters are required, but the user object cannot be empty"
 * (mxenabled/openapi `openapi/mx_platform_api.yml`, and `v20250224.yml`, `createUser` requestBody
 * description; vendored in `vendor/mx-openapi/`). So when none is given, `createUser` sends
 * `{"user":{"is_disabled":false}}`: `false` is MX's default for `is_disabled` (v20250224
 * `UserCreateRequest.is_disabled`: "Defaults to `false`"), so the user is the one MX would create
 * from no field, and the object is not empty. Giving an `id` is better still: after an unknown
 * outcome, `listUsers` can find the user by it.
 *
 * @since 0.1.0
 * @category params
 */
export interface CreateUserParams {
  /** The partner's own unique id for the user; MX refuses a second user with the same id (409). */
  readonly id?: string
  readonly email?: string
  readonly metadata?: string
  readonly isDisabled?: boolean
}

/**
 * A new member: the institution and the values of its credentials (from `listInstitutionCredentials`).
 *
 * @since 0.1.0
 * @category params
 */
export interface CreateMemberParams {
  readonly userGuid: Member.UserGuid
  readonly institutionCode: Member.InstitutionCode
  /** The credential values; revealed only when the request body is built. */
  readonly credentials: ReadonlyArray<Member.CredentialValue>
  /** `true`: MX creates the member without starting an aggregation. */
  readonly skipAggregation?: boolean
  /** The partner's own unique id for the member: lets a caller find it again after an unknown outcome. */
  readonly id?: string
  readonly metadata?: string
  readonly isOauth?: boolean
  readonly backgroundAggregationIsDisabled?: boolean
}

/**
 * A member update. MX refuses an empty update; it starts an aggregation when credentials change,
 * unless `skipAggregation` is `true`.
 *
 * @since 0.1.0
 * @category params
 */
export interface UpdateMemberParams extends MemberRef {
  /** The new credential values (guids from `listMemberCredentials`); revealed only on the wire. */
  readonly credentials?: ReadonlyArray<Member.CredentialValue>
  readonly skipAggregation?: boolean
  readonly id?: string
  readonly metadata?: string
  readonly backgroundAggregationIsDisabled?: boolean
}

/**
 * An aggregation request. MX's defaults include holdings and transactions.
 *
 * @since 0.1.0
 * @category params
 */
export interface AggregateMemberParams extends MemberRef {
  readonly includeHoldings?: boolean
  readonly includeTransactions?: boolean
}

/**
 * The answers to a member's MFA challenges: one `{ guid, value }` per challenge guid.
 *
 * @since 0.1.0
 * @category params
 */
export interface ResumeAggregationParams extends MemberRef {
  /** The MFA answers; revealed only when the request body is built, never logged. */
  readonly answers: ReadonlyArray<Member.CredentialValue>
}

/**
 * The transactions of a member, filtered by dates in MX's `YYYY-MM-DD` form. MX defaults `fromDate` to
 * 120 days ago and `toDate` to 5 days ahead; an updated-at range may span at most 6 months.
 *
 * @since 0.1.0
 * @category params
 */
export interface ListTransactionsParams extends MemberRef, ListOptions {
  readonly fromDate?: string
  readonly toDate?: string
  readonly fromUpdatedAt?: string
  readonly toUpdatedAt?: string
}

/**
 * The MX operations. Names follow MX's operationIds.
 *
 * Retry safety (see `retrySchedule`): reads, lists, `updateMember`, `deleteMember` and
 * `aggregateMember` are safe to repeat (an aggregate while one runs answers 202 and starts nothing
 * new), so they retry every transient failure (429, 5xx, transport). `createUser`, `createMember` and
 * `resumeAggregation` are not: a repeated create may make a second object, and a repeated resume may
 * answer the next MFA round with the previous round's answers. They retry only failures where MX
 * certainly did nothing (429, 503). When their outcome is unknown (a transport failure or a 500, 502,
 * 504 after the request was sent) they fail with that `MxApiError` at once, without retrying: the
 * caller reconciles, e.g. by listing the user's members and matching the `id` it gave the new member,
 * or by reading the member's status before answering MFA again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `POST /users`. Not retried when the outcome is unknown. */
  readonly createUser: (params?: CreateUserParams) => Effect.Effect<User, MxApiError>
  /** `GET /users/{user_guid}`. */
  readonly readUser: (params: { readonly userGuid: Member.UserGuid }) => Effect.Effect<User, MxApiError>
  /** `GET /users`, every page. */
  readonly listUsers: (params?: ListOptions) => Stream.Stream<User, MxApiError>
  /** `DELETE /users/{user_guid}`: deletes the user and all its members. */
  readonly deleteUser: (params: { readonly userGuid: Member.UserGuid }) => Effect.Effect<void, MxApiError>

  /** `POST /users/{user_guid}/members` with `skip_aggregation`. Not retried when the outcome is unknown. */
  readonly createMember: (params: CreateMemberParams) => Effect.Effect<Member.Member, MxApiError>
  /** `GET /users/{user_guid}/members/{member_guid}`. */
  readonly readMember: (params: MemberRef) => Effect.Effect<Member.Member, MxApiError>
  /** `PUT /users/{user_guid}/members/{member_guid}` with `skip_aggregation`. */
  readonly updateMember: (params: UpdateMemberParams) => Effect.Effect<Member.Member, MxApiError>
  /** `DELETE /users/{user_guid}/members/{member_guid}` (204). Never a way to recover a member. */
  readonly deleteMember: (params: MemberRef) => Effect.Effect<void, MxApiError>
  /** `GET /users/{user_guid}/members`, every page. */
  readonly listMembers: (
    params: { readonly userGuid: Member.UserGuid } & ListOptions
  ) => Stream.Stream<Member.Member, MxApiError>

  /** `POST …/aggregate`: 202 with the member (also when an aggregation of the same kind already runs). */
  readonly aggregateMember: (params: AggregateMemberParams) => Effect.Effect<Member.Member, MxApiError>
  /** `GET …/status`: the connection status, `is_being_aggregated` and any challenges. */
  readonly readMemberStatus: (params: MemberRef) => Effect.Effect<Member.MemberStatus, MxApiError>
  /**
   * `GET …/challenges`, every page collected (a member has a handful of challenges at most). MX answers
   * 204 when the member is not CHALLENGED: that is an empty array.
   */
  readonly listMemberChallenges: (
    params: MemberRef & ListOptions
  ) => Effect.Effect<ReadonlyArray<Member.Challenge>, MxApiError>
  /** `PUT …/resume` with the MFA answers: 202 with the member. Not retried when the outcome is unknown. */
  readonly resumeAggregation: (params: ResumeAggregationParams) => Effect.Effect<Member.Member, MxApiError>

  /** `GET …/members/{member_guid}/credentials`: the fields to ask for when updating this member. */
  readonly listMemberCredentials: (params: MemberRef & ListOptions) => Stream.Stream<Member.Credential, MxApiError>
  /** `GET /institutions/{institution_code}/credentials`: the fields to ask for when creating a member. */
  readonly listInstitutionCredentials: (
    params: { readonly institutionCode: Member.InstitutionCode } & ListOptions
  ) => Stream.Stream<Member.Credential, MxApiError>
  /** `GET …/members/{member_guid}/accounts`, every page. */
  readonly listMemberAccounts: (params: MemberRef & ListOptions) => Stream.Stream<Account.Account, MxApiError>
  /** `GET …/members/{member_guid}/transactions`, every page, with date and updated-at filters. */
  readonly listTransactionsByMember: (
    params: ListTransactionsParams
  ) => Stream.Stream<Transaction.Transaction, MxApiError>
}

/**
 * The MX client service.
 *
 * @since 0.1.0
 * @category tags
 */
export class MxClient extends Context.Tag("@mx-aggregation/mx-api/MxClient")<MxClient, Service>() {}

// ---------------------------------------------------------------------------------------------------
// Options, retries
// ---------------------------------------------------------------------------------------------------

/**
 * MX's integration environment (the one with the MX Bank test institution).
 *
 * @since 0.1.0
 * @category constants
 */
export const integrationBaseUrl = "https://int-api.mx.com"

/**
 * MX's production environment.
 *
 * @since 0.1.0
 * @category constants
 */
export const productionBaseUrl = "https://api.mx.com"

/**
 * The default client-side rate: requests started per second, across the process. MX publishes no
 * per-client rate, only 429s "when the rate limit for requests per second is surpassed" and a cap of
 * 2000 concurrent connections per IP; 20 per second polls 60 members at MX's 3-second minimum.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRequestsPerSecond = 20

/**
 * The default cap on MX requests in flight at once, across the process.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxConcurrency = 10

/**
 * The default limit on one attempt of an MX call (request sent, answer read).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRequestTimeout = Duration.seconds(30)

/**
 * What the client needs: where MX is, who the caller is, and its limits.
 *
 * @since 0.1.0
 * @category options
 */
export interface Options {
  /** Default `https://int-api.mx.com`. */
  readonly baseUrl?: string
  readonly clientId: string
  readonly apiKey: Redacted.Redacted<string>
  /** Requests started per second (sliding window), default 20. */
  readonly requestsPerSecond?: number
  /** Requests in flight at once, default 10. */
  readonly maxConcurrency?: number
  /** How long one attempt may take, answer body included, default 30 s; then it is a `Transport` failure. */
  readonly requestTimeout?: Duration.DurationInput
  /** `records_per_page` of list operations, default 1000 (MX's maximum). */
  readonly recordsPerPage?: number
  /** How transient failures are retried, default `retrySchedule`. */
  readonly retrySchedule?: Schedule.Schedule<unknown, MxApiError>
}

/**
 * The first retry delay of `retrySchedule`.
 *
 * @since 0.1.0
 * @category retries
 */
export const retryBase = Duration.millis(250)

/**
 * The longest backoff between two attempts.
 *
 * @since 0.1.0
 * @category retries
 */
export const retryCap = Duration.seconds(10)

/**
 * The most retries after the first attempt.
 *
 * @since 0.1.0
 * @category retries
 */
export const maxRetries = 5

/**
 * The longest `Retry-After` the client waits: a longer one is cut so that a call stays bounded.
 *
 * @since 0.1.0
 * @category retries
 */
export const maxRetryAfter = Duration.seconds(60)

/**
 * Runs `self` with its MX requests ahead of the other requests waiting for the client's rate limit and
 * concurrency cap (in the order they came among urgent ones). For the calls a user waits on against a
 * deadline, such as MFA answers: at MX's rate limit the queue of routine polls can be seconds long.
 *
 * @since 0.1.0
 * @category combinators
 */
export const urgent = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(self, RequestLimiter.currentUrgent, true)

/**
 * A retry Schedule of the shape of `retrySchedule` with other numbers: exponential from `base`
 * doubling, jittered (x0.8 to x1.2), each delay capped at `cap`, at most `maxRetries` retries; a
 * failure's `Retry-After` lengthens its delay (up to `maxRetryAfter`).
 *
 * @since 0.1.0
 * @category retries
 */
export const makeRetrySchedule = (options: {
  readonly base: Duration.DurationInput
  readonly cap: Duration.DurationInput
  readonly maxRetries: number
}): Schedule.Schedule<unknown, MxApiError> =>
  Schedules.mxRetry({ base: options.base, cap: options.cap, times: options.maxRetries }).pipe(
    Schedule.intersect(Schedule.identity<MxApiError>()),
    Schedule.modifyDelay(([_, error], delay) =>
      error.retryAfterMillis === undefined
        ? delay
        : Duration.max(delay, Duration.min(Duration.millis(error.retryAfterMillis), maxRetryAfter))
    )
  )

/**
 * The retry Schedule of every MX call: exponential from 250 ms doubling, jittered (x0.8 to x1.2),
 * each delay capped at 10 s, at most 5 retries (about 8 s in all). When the failure carries a
 * `Retry-After`, the delay is at least that (at most 60 s). The client decides what is retried (see
 * `Service`): this Schedule only decides when.
 *
 * @since 0.1.0
 * @category retries
 */
export const retrySchedule: Schedule.Schedule<unknown, MxApiError> = makeRetrySchedule({
  base: retryBase,
  cap: retryCap,
  maxRetries
})

/**
 * The client's options from the environment: `MX_BASE_URL` (default `https://int-api.mx.com`),
 * `MX_CLIENT_ID`, `MX_API_KEY` (redacted), `MX_RATE_LIMIT` (requests per second, default 20),
 * `MX_MAX_CONCURRENCY` (default 10), `MX_REQUEST_TIMEOUT` (a duration such as `30 seconds`, default 30 s).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.string("MX_BASE_URL").pipe(Config.withDefault(integrationBaseUrl)),
  clientId: Config.nonEmptyString("MX_CLIENT_ID"),
  apiKey: Config.redacted(Config.nonEmptyString("MX_API_KEY")),
  requestsPerSecond: Config.integer("MX_RATE_LIMIT").pipe(
    Config.validate({ message: "MX_RATE_LIMIT must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(defaultRequestsPerSecond)
  ),
  maxConcurrency: Config.integer("MX_MAX_CONCURRENCY").pipe(
    Config.validate({ message: "MX_MAX_CONCURRENCY must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(defaultMaxConcurrency)
  ),
  requestTimeout: Config.duration("MX_REQUEST_TIMEOUT").pipe(Config.withDefault(defaultRequestTimeout))
})

// ---------------------------------------------------------------------------------------------------
// Wire formats
// ---------------------------------------------------------------------------------------------------

/** `Accept` of API version 20111101. */
const acceptMediaType = "application/vnd.mx.api.v1+json"
/** The API version, also as `Accept-Version` (required by MX for every call from August 2026). */
const apiVersion = "v20111101"

const MemberBody = Schema.Struct({ member: Member.Member })
const MemberStatusBody = Schema.Struct({ member: Member.MemberStatus })
const UserBody = Schema.Struct({ user: UserSchema })

/**
 * One page of a list as it comes: the rows under MX's root key (absent or null read as none), still
 * undecoded so that one bad row does not fail the page, and the envelope (absent, null or partial read
 * with defaults). `item` decodes each row.
 */
const pageOf = <A, I>(key: string, item: Schema.Schema<A, I>) => ({
  body: Schema.Struct({
    rows: Schema.optionalWith(Schema.NullOr(Schema.Array(Schema.Unknown)), { default: () => null }).pipe(
      Schema.fromKey(key)
    ),
    pagination: Schema.optional(Schema.NullOr(PaginationWire))
  }),
  item: Schema.decodeUnknownEither(item)
})

/** The paths of the fields a row failed on, without the values (a message would quote them). */
const failedFields = (error: ParseResult.ParseError): ReadonlyArray<string> => {
  const paths = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? "(row)" : issue.path.map(String).join(".")
  )
  return [...new Set(paths)]
}

const MembersPage = pageOf("members", Member.Member)
const UsersPage = pageOf("users", UserSchema)
const ChallengesPage = pageOf("challenges", Member.Challenge)
const CredentialsPage = pageOf("credentials", Member.Credential)
const AccountsPage = pageOf("accounts", Account.Account)
const TransactionsPage = pageOf("transactions", Transaction.Transaction)

/** `{ guid, value }` as MX expects it, with the Redacted value revealed for the request body only. */
const credentialsToWire = (values: ReadonlyArray<Member.CredentialValue>) =>
  values.map((credential) => ({ guid: credential.guid, value: Redacted.value(credential.value) }))

/** Drops undefined fields, so that an option left out is not sent at all. */
const defined = (fields: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))

/**
 * The `user` object of `POST /users`: the given fields, or `is_disabled: false` (MX's default) when
 * none is given, since MX refuses an empty user object (see `CreateUserParams`).
 */
const userCreateBody = (params: CreateUserParams): Record<string, unknown> => {
  const user = defined({
    id: params.id,
    email: params.email,
    metadata: params.metadata,
    is_disabled: params.isDisabled
  })
  return Object.keys(user).length === 0 ? { is_disabled: false } : user
}

/** Whether an operation may be repeated after an attempt of unknown outcome. */
type Idempotency = "idempotent" | "not-idempotent"

/** Span attributes: guids and codes only, never a credential or an answer. */
type Attributes = Record<string, string | number | boolean>

const maxDecodeMessageLength = 1000

/** What went wrong when MX gave no answer: the description, else the cause's message. */
const describeRequestError = (error: HttpClientError.HttpClientError): string => {
  if (error.description !== undefined) return error.description
  const cause = error.cause
  return cause instanceof Error && cause.message.length > 0 ? cause.message : error.reason
}

/**
 * Removes secrets from an error's message. The client never puts one there itself, but MX's message,
 * an undecodable body or a transport error could echo the Authorization header, a credential or an
 * answer back (`Invalid value: hunter2`).
 */
const scrubber = (secrets: ReadonlyArray<Redacted.Redacted<string>>) => {
  const values = secrets.map(Redacted.value).filter((value) => value.length > 0)
  return (error: MxApiError): MxApiError => {
    const message = values.reduce((text, value) => text.split(value).join("<redacted>"), error.message)
    return message === error.message ? error : new MxApiError({ ...error, message })
  }
}

// ---------------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------------

/**
 * Builds the client over the `HttpClient` in context. The rate limiter and the concurrency cap are
 * made here, once: every operation of this client, in every fiber, shares them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const baseUrl = (options.baseUrl ?? integrationBaseUrl).replace(/\/+$/, "")
    const schedule = options.retrySchedule ?? retrySchedule
    const requestTimeout = Duration.decode(options.requestTimeout ?? defaultRequestTimeout)
    const defaultPerPage = clampRecordsPerPage(options.recordsPerPage ?? maxRecordsPerPage)
    // The client's own timing (rate window, timeouts, retry delays) stays on the clock it was built
    // with, even when a caller runs it on another (the worker's MX clock when time is scaled).
    const clock = yield* Effect.clock
    const limited = yield* RequestLimiter.make({
      limit: options.requestsPerSecond ?? defaultRequestsPerSecond,
      window: Duration.seconds(1),
      maxConcurrency: options.maxConcurrency ?? defaultMaxConcurrency
    })

    // The Authorization header's credentials, so that an echo of the header is scrubbed too.
    const authorization = Redacted.make(btoa(`${options.clientId}:${Redacted.value(options.apiKey)}`))
    const http = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(
          HttpClientRequest.prependUrl(baseUrl),
          HttpClientRequest.basicAuth(options.clientId, options.apiKey),
          HttpClientRequest.setHeaders({ Accept: acceptMediaType, "Accept-Version": apiVersion })
        )
      )
    )

    const statusError = (operation: string, response: HttpClientResponse.HttpClientResponse) =>
      Effect.gen(function*() {
        const body = yield* Effect.orElseSucceed(response.text, () => "")
        const now = yield* Clock.currentTimeMillis
        const retryAfter = parseRetryAfter(response.headers["retry-after"], now)
        const reason = reasonFromStatus(response.status)
        return new MxApiError({
          reason,
          status: response.status,
          operation,
          message: Option.getOrElse(
            messageFromBody(body),
            () => `MX answered ${response.status} (${reason}) to ${operation}`
          ),
          ...(Option.isSome(retryAfter) ? { retryAfterMillis: retryAfter.value } : {})
        })
      })

    const decodeError = (operation: string, status: number, detail: string) =>
      new MxApiError({
        reason: "Decode",
        status,
        operation,
        message: `Could not decode MX's answer to ${operation}: ${
          detail.length > maxDecodeMessageLength ? `${detail.slice(0, maxDecodeMessageLength)}…` : detail
        }`
      })

    /**
     * One call: limited attempts, status handling, decoding, retries, a span. `onNoContent` is the
     * value of a 204 (for operations where MX answers 204 instead of an empty list). `secrets` are the
     * credential values or MFA answers the request carries.
     */
    const call = <A, I>(
      operation: string,
      request: HttpClientRequest.HttpClientRequest,
      schema: Schema.Schema<A, I> | undefined,
      idempotency: Idempotency,
      attributes: Attributes,
      onNoContent?: () => A,
      secrets: ReadonlyArray<Member.CredentialValue> = []
    ): Effect.Effect<A, MxApiError> => {
      const decode = schema === undefined ? undefined : Schema.decodeUnknown(schema)
      const scrub = scrubber([options.apiKey, authorization, ...secrets.map((secret) => secret.value)])
      // `attempts` counts the attempts of one run of the call, for the retries metric.
      const attempt = (attempts: { count: number }): Effect.Effect<A, MxApiError> =>
        limited(
          Effect.gen(function*() {
            attempts.count += 1
            const response = yield* http.execute(request).pipe(
              CallMetrics.recordAttempt(operation, attempts.count),
              Effect.mapError((error) =>
                new MxApiError({
                  reason: "Transport",
                  operation,
                  message: `No answer from MX to ${operation}: ${describeRequestError(error)}`
                })
              )
            )
            if (response.status < 200 || response.status > 299) {
              return yield* Effect.fail(yield* statusError(operation, response))
            }
            if (decode === undefined) return undefined as A
            if (response.status === 204 && onNoContent !== undefined) return onNoContent()
            const json = yield* response.json.pipe(
              Effect.mapError((error) =>
                decodeError(operation, response.status, `the body is not JSON (${error.description ?? error.reason})`)
              )
            )
            return yield* decode(json).pipe(
              Effect.mapError((error) =>
                decodeError(operation, response.status, ParseResult.TreeFormatter.formatErrorSync(error))
              )
            )
          }).pipe(
            // A request MX never answers would hold a concurrency permit forever.
            Effect.timeoutFail({
              duration: requestTimeout,
              onTimeout: () =>
                new MxApiError({
                  reason: "Transport",
                  operation,
                  message: `No answer from MX to ${operation} within ${Duration.format(requestTimeout)}`
                })
            })
          )
        ).pipe(Effect.mapError(scrub))
      const retryable = idempotency === "idempotent" ? isTransient : isNotProcessed
      return Effect.suspend(() =>
        attempt({ count: 0 }).pipe(
          Effect.tapError((error) =>
            retryable(error)
              ? Effect.logWarning("MX call failed; retrying unless the retry budget is spent").pipe(
                Effect.annotateLogs({
                  operation,
                  reason: error.reason,
                  ...(error.status === undefined ? {} : { status: error.status })
                })
              )
              : Effect.void
          ),
          Effect.retry({ schedule, while: retryable })
        )
      ).pipe(
        Effect.withClock(clock),
        Effect.withSpan(`MxClient.${operation}`, {
          kind: "client",
          attributes: { "mx.operation": operation, ...attributes }
        })
      )
    }

    /**
     * One page of a list: the rows that decode, the envelope with defaults, and the rows left out
     * (each logged, counted and passed to `onSkipped`).
     */
    const fetchPage = <A, I>(
      operation: string,
      path: string,
      decoder: ReturnType<typeof pageOf<A, I>>,
      attributes: Attributes,
      query: Record<string, string>,
      page: number,
      perPage: number,
      onSkipped: ListOptions["onSkipped"],
      onNoContent?: boolean
    ): Effect.Effect<Page<A>, MxApiError> =>
      call(
        operation,
        HttpClientRequest.get(path).pipe(
          HttpClientRequest.setUrlParams({ ...query, page: String(page), records_per_page: String(perPage) })
        ),
        decoder.body,
        "idempotent",
        { ...attributes, "mx.page": page },
        onNoContent ? () => ({ rows: null }) : undefined
      ).pipe(
        Effect.flatMap((body) => {
          const rows = body.rows ?? []
          const items: Array<A> = []
          const skipped: Array<SkippedRow> = []
          rows.forEach((row, index) => {
            const decoded = decoder.item(row)
            if (decoded._tag === "Right") items.push(decoded.right)
            else skipped.push(new SkippedRow({ operation, page, index, fields: failedFields(decoded.left) }))
          })
          const result: Page<A> = {
            items,
            pagination: fromWire(body.pagination, { page, perPage, rows: rows.length }),
            skipped
          }
          return skipped.length === 0 ? Effect.succeed(result) : Effect.as(
            Effect.forEach(skipped, (row) =>
              Effect.logWarning("MX sent a list row that does not decode; it is left out").pipe(
                Effect.annotateLogs({
                  operation,
                  page: row.page,
                  index: row.index,
                  fields: row.fields.join(", ")
                }),
                Effect.zipRight(Metric.increment(Metric.tagged(rowsSkipped, "operation", operation))),
                Effect.zipRight(onSkipped === undefined ? Effect.void : onSkipped(row))
              ), { discard: true }),
            result
          )
        })
      )

    /**
     * A list operation as a Stream: page 1, then the next page only when the consumer pulls past it,
     * while the envelope says more pages follow and the page had rows.
     */
    const paginate = <A, I>(
      operation: string,
      path: string,
      decoder: ReturnType<typeof pageOf<A, I>>,
      attributes: Attributes,
      params: ListOptions & { readonly query?: Record<string, string | undefined> },
      onNoContent?: boolean
    ): Stream.Stream<A, MxApiError> => {
      const perPage = params.recordsPerPage === undefined ? defaultPerPage : clampRecordsPerPage(params.recordsPerPage)
      const query = defined(params.query ?? {}) as Record<string, string>
      return Stream.paginateChunkEffect(1, (page: number) =>
        fetchPage(operation, path, decoder, attributes, query, page, perPage, params.onSkipped, onNoContent).pipe(
          Effect.map((result) => {
            const rows = result.items.length + result.skipped.length
            const next = page < result.pagination.total_pages && rows > 0 ? Option.some(page + 1) : Option.none()
            return [Chunk.fromIterable(result.items), next] as const
          })
        ))
    }

    const memberPath = ({ memberGuid, userGuid }: MemberRef) =>
      `/users/${encodeURIComponent(userGuid)}/members/${encodeURIComponent(memberGuid)}`
    const memberAttributes = ({ memberGuid, userGuid }: MemberRef): Attributes => ({
      "mx.user_guid": userGuid,
      "mx.member_guid": memberGuid
    })
    const userPath = (userGuid: Member.UserGuid) =>
      `/users/${encodeURIComponent(userGuid)}`

    const service: Service = {
      createUser: (params = {}) =>
        call(
          "createUser",
          HttpClientRequest.post("/users").pipe(
            HttpClientRequest.bodyUnsafeJson({ user: userCreateBody(params) })
          ),
          UserBody,
          "not-idempotent",
          {}
        ).pipe(Effect.map((body) =>
          body.user
        )),

      readUser: ({ userGuid }) =>
        call("readUser", HttpClientRequest.get(userPath(userGuid)), UserBody, "idempotent", {
          "mx.user_guid": userGuid
        }).pipe(Effect.map((body) => body.user)),

      listUsers: (params = {}) => paginate("listUsers", "/users", UsersPage, {}, params),

      deleteUser: ({ userGuid }) =>
        call("deleteUser", HttpClientRequest.del(userPath(userGuid)), undefined, "idempotent", {
          "mx.user_guid": userGuid
        }),

      createMember: (params) =>
        call(
          "createMember",
          HttpClientRequest.post(`${userPath(params.userGuid)}/members`).pipe(
            HttpClientRequest.bodyUnsafeJson({
              member: defined({
                institution_code: params.institutionCode,
                credentials: credentialsToWire(params.credentials),
                skip_aggregation: params.skipAggregation,
                id: params.id,
                metadata: params.metadata,
                is_oauth: params.isOauth,
                background_aggregation_is_disabled: params.backgroundAggregationIsDisabled
              })
            })
          ),
          MemberBody,
          "not-idempotent",
          { "mx.user_guid": params.userGuid, "mx.institution_code": params.institutionCode },
          undefined,
          params.credentials
        ).pipe(Effect.map((body) => body.member)),

      readMember: (ref) =>
        call("readMember", HttpClientRequest.get(memberPath(ref)), MemberBody, "idempotent", memberAttributes(ref))
          .pipe(Effect.map((body) => body.member)),

      updateMember: (params) =>
        call(
          "updateMember",
          HttpClientRequest.put(memberPath(params)).pipe(
            HttpClientRequest.bodyUnsafeJson({
              member: defined({
                credentials: params.credentials === undefined ? undefined : credentialsToWire(params.credentials),
                skip_aggregation: params.skipAggregation,
                id: params.id,
                metadata: params.metadata,
                background_aggregation_is_disabled: params.backgroundAggregationIsDisabled
              })
            })
          ),
          MemberBody,
          // New credentials start an aggregation at MX: a repeat after an unknown outcome would start another.
          params.credentials === undefined ? "idempotent" : "not-idempotent",
          memberAttributes(params),
          undefined,
          params.credentials ?? []
        ).pipe(Effect.map((body) => body.member)),

      deleteMember: (ref) =>
        call("deleteMember", HttpClientRequest.del(memberPath(ref)), undefined, "idempotent", memberAttributes(ref)),

      listMembers: ({ userGuid, ...params }) =>
        paginate("listMembers", `${userPath(userGuid)}/members`, MembersPage, { "mx.user_guid": userGuid }, params),

      aggregateMember: (params) =>
        call(
          "aggregateMember",
          HttpClientRequest.post(`${memberPath(params)}/aggregate`).pipe(
            HttpClientRequest.setUrlParams(defined({
              include_holdings: params.includeHoldings === undefined ? undefined : String(params.includeHoldings),
              include_transactions: params.includeTransactions === undefined
                ? undefined
                : String(params.includeTransactions)
            }) as Record<string, string>)
          ),
          MemberBody,
          "idempotent",
          memberAttributes(params)
        ).pipe(Effect.map((body) => body.member)),

      readMemberStatus: (ref) =>
        call(
          "readMemberStatus",
          HttpClientRequest.get(`${memberPath(ref)}/status`),
          MemberStatusBody,
          "idempotent",
          memberAttributes(ref)
        ).pipe(Effect.map((body) => body.member)),

      listMemberChallenges: (params) =>
        paginate(
          "listMemberChallenges",
          `${memberPath(params)}/challenges`,
          ChallengesPage,
          memberAttributes(params),
          params,
          true
        ).pipe(
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        ),

      resumeAggregation: (params) =>
        call(
          "resumeAggregation",
          HttpClientRequest.put(`${memberPath(params)}/resume`).pipe(
            HttpClientRequest.bodyUnsafeJson({ member: { challenges: credentialsToWire(params.answers) } })
          ),
          MemberBody,
          "not-idempotent",
          memberAttributes(params),
          undefined,
          params.answers
        ).pipe(Effect.map((body) => body.member)),

      listMemberCredentials: (params) =>
        paginate(
          "listMemberCredentials",
          `${memberPath(params)}/credentials`,
          CredentialsPage,
          memberAttributes(params),
          params
        ),

      listInstitutionCredentials: ({ institutionCode, ...params }) =>
        paginate(
          "listInstitutionCredentials",
          `/institutions/${encodeURIComponent(institutionCode)}/credentials`,
          CredentialsPage,
          { "mx.institution_code": institutionCode },
          params
        ),

      listMemberAccounts: (params) =>
        paginate(
          "listMemberAccounts",
          `${memberPath(params)}/accounts`,
          AccountsPage,
          memberAttributes(params),
          params
        ),

      listTransactionsByMember: (params) =>
        paginate(
          "listTransactionsByMember",
          `${memberPath(params)}/transactions`,
          TransactionsPage,
          memberAttributes(params),
          {
            ...(params.recordsPerPage === undefined ? {} : { recordsPerPage: params.recordsPerPage }),
            ...(params.onSkipped === undefined ? {} : { onSkipped: params.onSkipped }),
            query: {
              from_date: params.fromDate,
              to_date: params.toDate,
              from_updated_at: params.fromUpdatedAt,
              to_updated_at: params.toUpdatedAt
            }
          }
        )
    }
    return service
  })

/**
 * The client as a Layer. Needs an `HttpClient.HttpClient` (the app provides `NodeHttpClient`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MxClient, never, HttpClient.HttpClient> =>
  Layer.effect(MxClient, make(options))

/**
 * The client as a Layer, its options read from a Config (by default `config`: the `MX_*` environment).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<MxClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(MxClient, Effect.flatMap(options, make))
