/**
 * The HTTP face of the sandbox: MX's v20111101 paths on an HttpRouter, with Basic auth, the Accept
 * and Accept-Version checks, faults, counters, and errors as `{"error": {"message": "…"}}`.
 *
 * @internal
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { HttpApp } from "@effect/platform"
import { MxField } from "@mx-aggregation/domain"
import { Cause, Duration, Effect, Either, Redacted, Schema, Stream } from "effect"
import { Readable } from "node:stream"
import * as Institutions from "../Institutions.js"
import type { Exchange, Faults, Resolved } from "../Options.js"
import * as SandboxError from "../SandboxError.js"
import type { Counters } from "./counters.js"
import type { TxRec } from "./data.js"
import { isoDate } from "./data.js"
import type { Engine } from "./engine.js"
import * as Messages from "./messages.js"
import type { JobType, MemberRec } from "./model.js"
import * as Random from "./random.js"
import * as Render from "./render.js"

/** What the routes need from the sandbox. */
export interface Core {
  readonly engine: Engine
  readonly counters: Counters
  readonly options: Resolved
  /** MX time now, in epoch millis. */
  readonly mxNow: Effect.Effect<number>
  /** The faults in force (mutable: `setFaults` replaces them). */
  readonly faults: { current: Faults }
  readonly setFaults: (faults: Faults) => void
  readonly setBackground: (enabled: boolean) => Effect.Effect<void>
}

/** MX's response media type for v20111101. */
export const mediaType = "application/vnd.mx.api.v1+json"

interface Reply {
  readonly status: number
  readonly body?: unknown
}

const reply = (status: number, body?: unknown): Reply => body === undefined ? { status } : { status, body }

type Handler = (input: {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: URLSearchParams
  readonly now: number
}) => Effect.Effect<Reply, SandboxError.SandboxError>

const bad = (message: string) => SandboxError.make("BadRequest", message)

// -----------------------------------------------------------------------------------------------
// request bodies

const { nullable } = MxField

const CredentialRequest = Schema.Struct({ guid: Schema.String, value: Schema.String })

const UseCases = Schema.Array(Schema.Literal("PFM", "MONEY_MOVEMENT"))

const UserRequest = Schema.Struct({
  id: nullable(Schema.String),
  email: nullable(Schema.String),
  is_disabled: nullable(Schema.Boolean),
  metadata: nullable(Schema.String)
})

const MemberCreateRequest = Schema.Struct({
  institution_code: Schema.String,
  credentials: Schema.optional(Schema.Array(CredentialRequest)),
  skip_aggregation: nullable(Schema.Boolean),
  id: nullable(Schema.String),
  metadata: nullable(Schema.String),
  is_oauth: nullable(Schema.Boolean),
  background_aggregation_is_disabled: nullable(Schema.Boolean),
  use_cases: Schema.optional(UseCases)
})

const MemberUpdateRequest = Schema.Struct({
  credentials: Schema.optional(Schema.Array(CredentialRequest)),
  skip_aggregation: nullable(Schema.Boolean),
  id: nullable(Schema.String),
  metadata: nullable(Schema.String),
  background_aggregation_is_disabled: nullable(Schema.Boolean),
  use_cases: Schema.optional(UseCases)
})

const MemberResumeRequest = Schema.Struct({ challenges: Schema.Array(CredentialRequest) })

/**
 * The largest request body accepted: 1 MB (1,048,576 bytes). A larger one is refused with 413
 * before it is read into memory: at once when its Content-Length says so, otherwise as soon as the
 * bytes read pass the limit (the rest is discarded unread, and the 413 still reaches the client).
 */
export const maxBodyBytes = 1024 * 1024

const tooLarge = () => SandboxError.make("PayloadTooLarge", "The request body is larger than 1 MB.")

/** Whether the request's Content-Length announces a body over the limit. */
const declaredTooLarge = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const declared = request.headers["content-length"]
  return declared !== undefined && /^\s*\d+\s*$/.test(declared) && Number(declared) > maxBodyBytes
}

const unreadable = () => bad("The request body could not be read.")

/**
 * A Node request's body, read from the socket up to the limit. Past it, the reading stops and the
 * rest flows away unread (not destroyed: destroying the request would close the socket before the
 * 413 is written).
 */
const readNodeBody = (source: Readable): Effect.Effect<Uint8Array, SandboxError.SandboxError> =>
  Effect.async<Uint8Array, SandboxError.SandboxError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const ignore = () => {}
    const detach = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    function onData(chunk: Buffer | string) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
      size += bytes.length
      if (size > maxBodyBytes) {
        detach()
        chunks.length = 0
        source.on("error", ignore)
        source.resume()
        resume(Effect.fail(tooLarge()))
        return
      }
      chunks.push(bytes)
    }
    function onEnd() {
      detach()
      resume(Effect.succeed(Buffer.concat(chunks)))
    }
    function onError() {
      detach()
      source.on("error", ignore)
      resume(Effect.fail(unreadable()))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    // Interrupted (the client went away): stop collecting; what still arrives flows away.
    return Effect.sync(() => {
      detach()
      source.on("error", ignore)
    })
  })

/** Any other request's body (a web Request in process), as a stream counted up to the limit. */
const readStreamBody = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Uint8Array, SandboxError.SandboxError> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return request.stream.pipe(
      Stream.mapError(unreadable),
      Stream.runForEach((chunk) => {
        size += chunk.length
        if (size > maxBodyBytes) return Effect.fail(tooLarge())
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => Buffer.concat(chunks))
    )
  })

/** The body as text, refused with 413 when over `maxBodyBytes`. */
const readBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<string, SandboxError.SandboxError> => {
  if (declaredTooLarge(request)) return Effect.fail(tooLarge())
  const body = request.source instanceof Readable ? readNodeBody(request.source) : readStreamBody(request)
  return Effect.map(body, (bytes) => new TextDecoder().decode(bytes))
}

const readJson = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<unknown, SandboxError.SandboxError> =>
  readBody(request).pipe(
    Effect.flatMap((text) => {
      if (text.trim() === "") return Effect.fail(bad("The request body is empty."))
      return Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () => bad("The request body is not valid JSON.")
      })
    })
  )

/** Reads `{ <root>: {...} }` and decodes the object inside the root wrapper. */
const wrapped = <A, I>(
  request: HttpServerRequest.HttpServerRequest,
  root: string,
  schema: Schema.Schema<A, I>
): Effect.Effect<{ readonly inner: A; readonly keys: ReadonlyArray<string> }, SandboxError.SandboxError> =>
  Effect.flatMap(readJson(request), (json) => {
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return Effect.fail(bad(`The request body must be a JSON object with a "${root}" object.`))
    }
    const inner = (json as Record<string, unknown>)[root]
    if (typeof inner !== "object" || inner === null || Array.isArray(inner)) {
      return Effect.fail(bad(`The request body must be wrapped in a "${root}" object.`))
    }
    return Schema.decodeUnknown(schema)(inner).pipe(
      Effect.map((decoded) => ({ inner: decoded, keys: Object.keys(inner) })),
      Effect.mapError((error) => bad(Messages.decodeFailure(root, error)))
    )
  })

// -----------------------------------------------------------------------------------------------
// query parameters

const integer = (
  query: URLSearchParams,
  name: string
): Either.Either<number | undefined, SandboxError.SandboxError> => {
  const raw = query.get(name)
  if (raw === null || raw === "") return Either.right(undefined)
  if (!/^-?\d+$/.test(raw.trim())) return Either.left(bad(`${name} must be an integer.`))
  return Either.right(Number.parseInt(raw, 10))
}

/**
 * `page` (from 1) and `records_per_page`: 25 by default; the spec says a value above the maximum
 * (1000, or 100 for institutions) falls back to 25; the sandbox does the same below the minimum 10.
 */
const paging = (query: URLSearchParams, max = 1000) =>
  Effect.gen(function*() {
    const page = yield* integer(query, "page")
    const perPage = yield* integer(query, "records_per_page")
    return {
      page: page === undefined || page < 1 ? 1 : page,
      perPage: perPage === undefined || perPage < 10 || perPage > max ? 25 : perPage
    }
  })

const booleanParam = (
  query: URLSearchParams,
  name: string
): Either.Either<boolean | undefined, SandboxError.SandboxError> => {
  const raw = query.get(name)
  if (raw === null || raw === "") return Either.right(undefined)
  if (raw === "true") return Either.right(true)
  if (raw === "false") return Either.right(false)
  return Either.left(bad(`${name} must be true or false.`))
}

const dayMs = 86_400_000

/** A date filter: `YYYY-MM-DD` (the spec's format) or a full ISO timestamp, as an MX-time range bound. */
const bound = (
  query: URLSearchParams,
  name: string,
  side: "from" | "to"
): Either.Either<number | undefined, SandboxError.SandboxError> => {
  const raw = query.get(name)
  if (raw === null || raw === "") return Either.right(undefined)
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) {
    const start = Date.parse(`${raw}T00:00:00Z`)
    if (Number.isNaN(start)) return Either.left(bad(`${name} is not a valid date.`))
    return Either.right(side === "from" ? start : start + dayMs - 1)
  }
  const ms = Date.parse(raw)
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(raw)) {
    return Either.left(bad(`${name} must be a date (YYYY-MM-DD).`))
  }
  return Either.right(ms)
}

const transactionFilter = (query: URLSearchParams, now: number) =>
  Effect.gen(function*() {
    const fromDate = (yield* bound(query, "from_date", "from")) ?? Date.parse(`${isoDate(now - 120 * dayMs)}T00:00:00Z`)
    const toDate = (yield* bound(query, "to_date", "to")) ??
      Date.parse(`${isoDate(now + 5 * dayMs)}T00:00:00Z`) + dayMs -
        1
    const fromCreated = yield* bound(query, "from_created_at", "from")
    const toCreated = yield* bound(query, "to_created_at", "to")
    const fromUpdated = yield* bound(query, "from_updated_at", "from")
    const toUpdated = yield* bound(query, "to_updated_at", "to")
    const category = query.get("category_guid")
    // `date` is the UTC day of transacted_at, so whole-day bounds compare on the timestamp.
    const fromDay = Date.parse(`${isoDate(fromDate)}T00:00:00Z`)
    const toDay = Date.parse(`${isoDate(toDate)}T00:00:00Z`) + dayMs - 1
    return (tx: TxRec): boolean =>
      tx.transactedAt >= fromDay && tx.transactedAt <= toDay &&
      (fromCreated === undefined || tx.createdAt >= fromCreated) &&
      (toCreated === undefined || tx.createdAt <= toCreated) &&
      (fromUpdated === undefined || tx.updatedAt >= fromUpdated) &&
      (toUpdated === undefined || tx.updatedAt <= toUpdated) &&
      (category === null || category === "" || tx.categoryGuid === category)
  })

// -----------------------------------------------------------------------------------------------
// the app

/**
 * HTTP Basic with the configured client id and api key. The scheme name is matched in any case
 * (`Basic`, `basic`, `BASIC`): "It uses a case-insensitive token as a means to identify the
 * authentication scheme" (RFC 7235 §2.1; RFC 7617 §2 for Basic).
 */
const authorized = (request: HttpServerRequest.HttpServerRequest, options: Resolved): boolean => {
  const match = /^\s*basic[ \t]+(\S+)\s*$/i.exec(request.headers["authorization"] ?? "")
  if (match === null) return false
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8")
  return decoded === `${options.clientId}:${Redacted.value(options.apiKey)}`
}

/** The Accept header refuses only other MX vendor types (an unknown API version); anything else is tolerated. */
const acceptable = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const accept = request.headers["accept"]
  if (accept === undefined || accept.trim() === "") return true
  const types = accept.split(",").map((part) => part.split(";")[0]!.trim().toLowerCase())
  return types.some((type) => !type.startsWith("application/vnd.mx.") || type === mediaType)
}

const supportedVersion = "v20111101"

export const makeApp = (core: Core): HttpApp.Default<never, HttpServerRequest.HttpServerRequest> => {
  const { counters, engine, options } = core
  const faultRandom = Random.rng(options.seed, "faults")
  const bucket = { tokens: Number.NaN, at: 0 }

  const observe = (request: HttpServerRequest.HttpServerRequest, operationId: string, status: number, body: string) => {
    if (options.observe === undefined) return
    const exchange: Exchange = {
      operationId,
      method: request.method,
      url: request.url,
      status,
      contentType: body === "" ? undefined : mediaType,
      body
    }
    options.observe(exchange)
  }

  const toResponse = (
    request: HttpServerRequest.HttpServerRequest,
    operationId: string,
    { body, status }: Reply
  ): HttpServerResponse.HttpServerResponse => {
    if (body === undefined) {
      observe(request, operationId, status, "")
      return HttpServerResponse.empty({ status })
    }
    const json = JSON.stringify(status < 300 ? varied(operationId, body) : body)
    const text = status < 300 && malformed(operationId) ? json.slice(0, Math.floor(json.length / 2)) : json
    observe(request, operationId, status, text)
    return HttpServerResponse.text(text, { status, contentType: mediaType })
  }

  /** The body with the `variations` fault applied (a copy; the body itself is left as it is). */
  const varied = (operationId: string, body: unknown): unknown => {
    const { connectionStatus = {}, undecodableRows = {} } = core.faults.current.variations ?? {}
    const extraRows = undecodableRows[operationId] ?? 0
    if (Object.keys(connectionStatus).length === 0 && extraRows <= 0) return body
    if (typeof body !== "object" || body === null || Array.isArray(body)) return body
    const restated = (value: unknown): unknown => {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return value
      const record = value as Record<string, unknown>
      const guid = record["guid"]
      return typeof guid === "string" && "connection_status" in record && Object.hasOwn(connectionStatus, guid)
        ? { ...record, connection_status: connectionStatus[guid] }
        : value
    }
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(body)) {
      out[key] = Array.isArray(value) ? value.map(restated) : restated(value)
    }
    const pagination = out["pagination"] as { current_page?: unknown } | undefined
    const rowsKey = Object.keys(out).find((key) => key !== "pagination" && Array.isArray(out[key]))
    if (extraRows > 0 && rowsKey !== undefined && (pagination?.current_page ?? 1) === 1) {
      const rows = out[rowsKey] as Array<unknown>
      const first = rows[0]
      const row = typeof first === "object" && first !== null ? { ...first, guid: null } : { guid: null }
      out[rowsKey] = [...rows, ...Array.from({ length: extraRows }, () => row)]
    }
    return out
  }

  /** Whether the `malformedBodies` fault cuts this response. */
  const malformed = (operationId: string): boolean => {
    const spec = core.faults.current.malformedBodies
    if (spec === undefined) return false
    const rate = spec.byOperation?.[operationId] ?? spec.rate ?? 0
    if (rate <= 0 || faultRandom() >= rate) return false
    counters.malformedBodies++
    return true
  }

  const errorReply = (error: SandboxError.SandboxError): Reply =>
    reply(error.status, { error: { message: error.message } })

  /** A 429 from the rate limit or the concurrency cap, if one applies to this request. */
  const throttle = Effect.gen(function*() {
    const faults = core.faults.current
    if (faults.maxConcurrency !== undefined && counters.inFlight > faults.maxConcurrency) {
      return SandboxError.make("RateLimited", "Too many concurrent requests.")
    }
    const limit = faults.rateLimit
    if (limit !== undefined) {
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const capacity = Math.max(1, limit.burst ?? limit.requestsPerSecond)
      if (Number.isNaN(bucket.tokens)) {
        bucket.tokens = capacity
        bucket.at = now
      }
      bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * limit.requestsPerSecond)
      bucket.at = now
      if (bucket.tokens < 1) {
        return SandboxError.make("RateLimited", "Rate limit exceeded: too many requests per second.")
      }
      bucket.tokens -= 1
    }
    return undefined
  })

  const latency = Effect.suspend(() => {
    const setting = core.faults.current.latency
    if (setting === undefined) return Effect.void
    if (typeof setting === "object" && setting !== null && "min" in setting && "max" in setting) {
      const min = Duration.toMillis(Duration.decode(setting.min))
      const max = Duration.toMillis(Duration.decode(setting.max))
      return Effect.sleep(Duration.millis(min + faultRandom() * Math.max(0, max - min)))
    }
    return Effect.sleep(Duration.decode(setting as Duration.DurationInput))
  })

  const injectedError = (operationId: string): SandboxError.SandboxError | undefined => {
    const spec = core.faults.current.serverErrors
    if (spec === undefined) return undefined
    const rate = spec.byOperation?.[operationId] ?? spec.rate ?? 0
    if (rate <= 0 || faultRandom() >= rate) return undefined
    const status = spec.status ?? 503
    return SandboxError.make(status === 503 ? "Unavailable" : "ServerError", "Injected server error.", status)
  }

  /** Runs one MX API request through counters, faults, auth and the handler. */
  const endpoint = (operationId: string, handler: Handler) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const params = yield* HttpRouter.params
      const memberGuid = params["member_guid"]
      counters.begin(operationId, memberGuid)
      let status = 500
      const run = Effect.gen(function*() {
        const limited = yield* throttle
        if (limited !== undefined) {
          counters.rateLimited++
          return yield* limited
        }
        // Like a front proxy's body limit, an announced oversized body is refused before anything else.
        if (declaredTooLarge(request)) return yield* tooLarge()
        if (!authorized(request, options)) {
          return yield* SandboxError.make("Unauthorized", "Invalid client_id or api_key (HTTP Basic authentication).")
        }
        if (!acceptable(request)) {
          return yield* SandboxError.make("NotAcceptable", `Unsupported Accept header; use ${mediaType}.`)
        }
        const version = request.headers["accept-version"]
        if (version !== undefined && version.trim() !== "" && version.trim() !== supportedVersion) {
          return yield* SandboxError.make(
            "NotAcceptable",
            `Unsupported Accept-Version ${version}; use ${supportedVersion}.`
          )
        }
        yield* latency
        const injected = injectedError(operationId)
        if (injected !== undefined) {
          counters.injectedErrors++
          return yield* injected
        }
        const query = new URL(request.url, "http://sandbox").searchParams
        const now = yield* core.mxNow
        return yield* handler({ request, params, query, now })
      })
      return yield* run.pipe(
        Effect.catchAll((error) => Effect.succeed(errorReply(error))),
        Effect.catchAllCause((cause) =>
          Effect.logError("mx-sandbox: unexpected failure", cause).pipe(
            Effect.as(
              reply(500, { error: { message: `Internal sandbox error: ${Cause.pretty(cause).split("\n")[0]}` } })
            )
          )
        ),
        Effect.map((result) => {
          status = result.status
          return toResponse(request, operationId, result)
        }),
        Effect.ensuring(Effect.sync(() => counters.end(memberGuid, status)))
      )
    })

  const userId = (member: MemberRec) => engine.users.get(member.userGuid)?.id ?? null

  const memberOf = (now: number, params: Readonly<Record<string, string | undefined>>) =>
    engine.member(now, params["user_guid"]!, params["member_guid"]!)

  const job = (operationId: string, type: JobType, okStatus: number) =>
    endpoint(operationId, ({ now, params }) =>
      Effect.map(
        engine.requestJob(now, params["user_guid"]!, params["member_guid"]!, type),
        ({ member }) => reply(okStatus, { member: Render.member(member, userId(member)) })
      ))

  const listTransactions = (
    select: (input: Parameters<Handler>[0]) => Effect.Effect<
      ReadonlyArray<MemberRec>,
      SandboxError.SandboxError
    >,
    accountGuid?: (input: Parameters<Handler>[0]) => string
  ) =>
  (input: Parameters<Handler>[0]) =>
    Effect.gen(function*() {
      const { page, perPage } = yield* paging(input.query)
      const keep = yield* transactionFilter(input.query, input.now)
      const members = yield* select(input)
      const account = accountGuid?.(input)
      const rows: Array<{ tx: TxRec; member: MemberRec }> = []
      for (const member of members) {
        for (const tx of member.transactions) {
          if ((account === undefined || tx.accountGuid === account) && keep(tx)) rows.push({ tx, member })
        }
      }
      if (members.length > 1) {
        rows.sort((a, b) => b.tx.transactedAt - a.tx.transactedAt || (a.tx.guid < b.tx.guid ? -1 : 1))
      }
      const { items, pagination } = Render.page(rows, page, perPage)
      return reply(200, {
        transactions: items.map(({ member, tx }) => Render.transaction(tx, member, userId(member))),
        pagination
      })
    })

  const userMembers = (now: number, userGuid: string) =>
    Either.map(engine.user(userGuid), (user) => {
      const out: Array<MemberRec> = []
      for (const guid of user.members) {
        const member = engine.memberByGuid(now, guid)
        if (member !== undefined) out.push(member)
      }
      return out
    })

  const userRoutes = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/users",
      endpoint("listUsers", ({ query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const id = query.get("id")
          const email = query.get("email")
          const disabled = yield* booleanParam(query, "is_disabled")
          const users = [...engine.users.values()].filter((user) =>
            (id === null || user.id === id) && (email === null || user.email === email) &&
            (disabled === undefined || user.isDisabled === disabled)
          )
          const { items, pagination } = Render.page(users, page, perPage)
          return reply(200, { users: items.map(Render.user), pagination })
        }))
    ),
    HttpRouter.post(
      "/users",
      endpoint("createUser", ({ request }) =>
        Effect.gen(function*() {
          const { inner, keys } = yield* wrapped(request, "user", UserRequest)
          // MX's spec, createUser's requestBody: "User object to be created. (None of these parameters
          // are required, but the user object cannot be empty)" (mxenabled/openapi mx_platform_api.yml
          // and v20250224.yml, vendored in vendor/mx-openapi/). MxClient.createUser sends
          // {"user":{"is_disabled":false}} when given no field.
          if (keys.length === 0) return yield* bad("The user object cannot be empty.")
          const user = yield* engine.createUser(inner)
          return reply(200, { user: Render.user(user) })
        }))
    ),
    HttpRouter.get(
      "/users/:user_guid",
      endpoint(
        "readUser",
        ({ params }) => Effect.map(engine.user(params["user_guid"]!), (user) => reply(200, { user: Render.user(user) }))
      )
    ),
    HttpRouter.put(
      "/users/:user_guid",
      endpoint("updateUser", ({ params, request }) =>
        Effect.gen(function*() {
          const { inner, keys } = yield* wrapped(request, "user", UserRequest)
          if (keys.length === 0) return yield* bad("The user object cannot be empty.")
          const user = yield* engine.updateUser(params["user_guid"]!, inner)
          return reply(200, { user: Render.user(user) })
        }))
    ),
    HttpRouter.del(
      "/users/:user_guid",
      endpoint("deleteUser", ({ params }) => Effect.as(engine.deleteUser(params["user_guid"]!), reply(204)))
    )
  )

  const memberRoutes = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/users/:user_guid/members",
      endpoint("listMembers", ({ now, params, query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const useCase = query.get("use_case")
          const members = (yield* userMembers(now, params["user_guid"]!)).filter((member) =>
            useCase === null || useCase === "" || member.useCases.includes(useCase)
          )
          const { items, pagination } = Render.page(members, page, perPage)
          return reply(200, { members: items.map((member) => Render.member(member, userId(member))), pagination })
        }))
    ),
    HttpRouter.post(
      "/users/:user_guid/members",
      endpoint("createMember", ({ now, params, request }) =>
        Effect.gen(function*() {
          const { inner } = yield* wrapped(request, "member", MemberCreateRequest)
          const callback = request.headers["x-callback-payload"] ?? null
          const { member, started } = yield* engine.createMember(now, params["user_guid"]!, inner, callback)
          return reply(started ? 202 : 200, { member: Render.member(member, userId(member)) })
        }))
    ),
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid",
      endpoint("readMember", ({ now, params }) =>
        Effect.map(memberOf(now, params), (member) => {
          engine.notePoll(now, member)
          return reply(200, { member: Render.member(member, userId(member)) })
        }))
    ),
    HttpRouter.put(
      "/users/:user_guid/members/:member_guid",
      endpoint("updateMember", ({ now, params, request }) =>
        Effect.gen(function*() {
          const { inner, keys } = yield* wrapped(request, "member", MemberUpdateRequest)
          if (keys.length === 0) return yield* bad("The member object cannot be empty.")
          const callback = request.headers["x-callback-payload"]
          const member = yield* engine.updateMember(now, params["user_guid"]!, params["member_guid"]!, inner)
          if (callback !== undefined) member.callbackPayload = callback
          return reply(200, { member: Render.member(member, userId(member)) })
        }))
    ),
    HttpRouter.del(
      "/users/:user_guid/members/:member_guid",
      endpoint(
        "deleteMember",
        ({ now, params }) =>
          Effect.as(engine.deleteMember(now, params["user_guid"]!, params["member_guid"]!), reply(204))
      )
    ),
    HttpRouter.post("/users/:user_guid/members/:member_guid/aggregate", job("aggregateMember", "aggregation", 202)),
    HttpRouter.post("/users/:user_guid/members/:member_guid/check_balance", job("checkBalances", "balance", 202)),
    HttpRouter.post("/users/:user_guid/members/:member_guid/identify", job("identifyMember", "identification", 202)),
    HttpRouter.post("/users/:user_guid/members/:member_guid/verify", job("verifyMember", "verification", 200)),
    HttpRouter.post("/users/:user_guid/members/:member_guid/extend_history", job("extendHistory", "history", 202)),
    HttpRouter.post(
      "/users/:user_guid/members/:member_guid/fetch_statements",
      job("fetchStatements", "statements", 202)
    ),
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid/status",
      endpoint("readMemberStatus", ({ now, params }) =>
        Effect.map(memberOf(now, params), (member) => {
          engine.notePoll(now, member)
          return reply(200, { member: Render.status(member) })
        }))
    ),
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid/challenges",
      endpoint("listMemberChallenges", ({ now, params, query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const challenges = yield* engine.challenges(now, params["user_guid"]!, params["member_guid"]!)
          if (challenges === undefined) return reply(204)
          const { items, pagination } = Render.page(challenges, page, perPage)
          return reply(200, { challenges: items.map(Render.challenge), pagination })
        }))
    ),
    HttpRouter.put(
      "/users/:user_guid/members/:member_guid/resume",
      endpoint("resumeAggregation", ({ now, params, request }) =>
        Effect.gen(function*() {
          // The member and its state are checked before the body, so a resume outside CHALLENGED is a 405
          // whatever it carries.
          const member = yield* memberOf(now, params)
          if (member.status !== "CHALLENGED") return yield* engine.notChallenged(member)
          const { inner } = yield* wrapped(request, "member", MemberResumeRequest)
          const resumed = yield* engine.resume(now, params["user_guid"]!, params["member_guid"]!, inner.challenges)
          return reply(202, { member: Render.member(resumed, userId(resumed)) })
        }))
    ),
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid/credentials",
      endpoint("listMemberCredentials", ({ now, params, query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const member = yield* memberOf(now, params)
          const { items, pagination } = Render.page(member.credentials, page, perPage)
          return reply(200, { credentials: items.map(Render.memberCredential), pagination })
        }))
    ),
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid/oauth_window_uri",
      endpoint("requestOAuthWindowURI", ({ now, params }) =>
        Effect.gen(function*() {
          const member = yield* memberOf(now, params)
          if (!member.isOauth) return yield* bad(`Member ${member.guid} is not an OAuth member.`)
          member.oauthWindowUri = engine.oauthUri(member)
          return reply(200, { member: { guid: member.guid, oauth_window_uri: member.oauthWindowUri } })
        }))
    )
  )

  const dataRoutes = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid/accounts",
      endpoint("listMemberAccounts", ({ now, params, query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const member = yield* memberOf(now, params)
          const { items, pagination } = Render.page(member.accounts, page, perPage)
          return reply(200, {
            accounts: items.map((account) => Render.account(account, member, userId(member))),
            pagination
          })
        }))
    ),
    HttpRouter.get(
      "/users/:user_guid/accounts",
      endpoint("listUserAccounts", ({ now, params, query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const rows = (yield* userMembers(now, params["user_guid"]!)).flatMap((member) =>
            member.accounts.map((account) => ({ account, member }))
          )
          const { items, pagination } = Render.page(rows, page, perPage)
          return reply(200, {
            accounts: items.map(({ account, member }) => Render.account(account, member, userId(member))),
            pagination
          })
        }))
    ),
    // transactions
    HttpRouter.get(
      "/users/:user_guid/members/:member_guid/transactions",
      endpoint(
        "listTransactionsByMember",
        listTransactions(({ now, params }) => Effect.map(memberOf(now, params), (member) => [member]))
      )
    ),
    HttpRouter.get(
      "/users/:user_guid/transactions",
      endpoint("listTransactions", listTransactions(({ now, params }) => userMembers(now, params["user_guid"]!)))
    ),
    HttpRouter.get(
      "/users/:user_guid/accounts/:account_guid/transactions",
      endpoint(
        "listTransactionsByAccount",
        listTransactions(
          ({ now, params }) =>
            Effect.flatMap(userMembers(now, params["user_guid"]!), (members) => {
              const owner = members.find((member) =>
                member.accounts.some((account) => account.guid === params["account_guid"])
              )
              return owner === undefined
                ? Effect.fail(SandboxError.make("NotFound", `Account ${params["account_guid"]} was not found.`))
                : Effect.succeed([owner])
            }),
          ({ params }) => params["account_guid"]!
        )
      )
    ),
    // institutions
    HttpRouter.get(
      "/institutions",
      endpoint("listInstitutions", ({ query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query, 100)
          const name = query.get("name")?.toLowerCase()
          const institutions = Institutions.all.filter((institution) =>
            name === undefined || name === "" || institution.name.toLowerCase().includes(name) ||
            institution.code.includes(name)
          )
          const { items, pagination } = Render.page(institutions, page, perPage)
          return reply(200, { institutions: items.map(Render.institution), pagination })
        }))
    ),
    HttpRouter.get(
      "/institutions/:institution_code",
      endpoint("readInstitution", ({ params }) => {
        const institution = Institutions.find(params["institution_code"]!)
        return institution === undefined
          ? Effect.fail(SandboxError.make("NotFound", `Institution ${params["institution_code"]} was not found.`))
          : Effect.succeed(reply(200, { institution: Render.institution(institution) }))
      })
    ),
    HttpRouter.get(
      "/institutions/:institution_code/credentials",
      endpoint("listInstitutionCredentials", ({ params, query }) =>
        Effect.gen(function*() {
          const { page, perPage } = yield* paging(query)
          const institution = Institutions.find(params["institution_code"]!)
          if (institution === undefined) {
            return yield* SandboxError.make("NotFound", `Institution ${params["institution_code"]} was not found.`)
          }
          const { items, pagination } = Render.page(institution.credentials, page, perPage)
          return reply(200, { credentials: items.map(Render.institutionCredential), pagination })
        }))
    )
  )

  // The sandbox's own routes: not MX, not counted, no auth (local use).
  const sandboxRoutes = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/sandbox/stats",
      Effect.sync(() => HttpServerResponse.unsafeJson(counters.snapshot()))
    ),
    HttpRouter.post(
      "/sandbox/stats/reset",
      Effect.sync(() => {
        counters.reset()
        return HttpServerResponse.empty({ status: 204 })
      })
    ),
    HttpRouter.put(
      "/sandbox/faults",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const json = yield* readJson(request)
        if (typeof json !== "object" || json === null || Array.isArray(json)) {
          return yield* bad("The faults must be a JSON object.")
        }
        core.setFaults(json as Faults)
        return HttpServerResponse.empty({ status: 204 })
      }).pipe(
        Effect.catchAll((error) =>
          Effect.succeed(HttpServerResponse.unsafeJson(errorReply(error).body, { status: error.status }))
        )
      )
    ),
    HttpRouter.put(
      "/sandbox/background",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const json = yield* readJson(request)
        const enabled = (json as { enabled?: unknown } | null)?.enabled
        if (typeof enabled !== "boolean") return yield* bad(`The body must be {"enabled": true|false}.`)
        yield* core.setBackground(enabled)
        return HttpServerResponse.empty({ status: 204 })
      }).pipe(
        Effect.catchAll((error) =>
          Effect.succeed(HttpServerResponse.unsafeJson(errorReply(error).body, { status: error.status }))
        )
      )
    ),
    HttpRouter.get(
      "/oauth/authorize",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const query = new URL(request.url, "http://sandbox").searchParams
        const now = yield* core.mxNow
        const outcome = query.get("outcome") === "denied" ? "denied" : "success"
        const result = engine.completeOAuth(now, query.get("member_guid") ?? "", outcome)
        return Either.isLeft(result)
          ? HttpServerResponse.text(result.left.message, { status: result.left.status })
          : HttpServerResponse.text(
            `OAuth ${outcome === "success" ? "completed" : "denied"}; you may close this window.`
          )
      })
    )
  )

  const router = HttpRouter.concatAll(userRoutes, memberRoutes, dataRoutes, sandboxRoutes)

  return router.pipe(
    Effect.catchTag("RouteNotFound", () =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        counters.begin("unknown", undefined)
        counters.end(undefined, 404)
        return toResponse(
          request,
          "unknown",
          errorReply(SandboxError.make("NotFound", `No route for ${request.method} ${request.url.split("?")[0]}.`))
        )
      }))
  )
}
