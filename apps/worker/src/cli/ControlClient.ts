/**
 * The commands that talk to a running worker do so through its control API, with the exported
 * `HttpApiClient` of `ControlApi`. This module holds their shared options (`--url`, `--token`,
 * `--json`), builds the client, and turns every failure of a call into a one-line `CliError`.
 *
 * @since 0.1.0
 */
import { Options, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, Effect, Option, ParseResult, Predicate, type Redacted } from "effect"
import { ControlApi } from "../ControlApi.js"
import { CliError, describe, oneLine } from "./CliError.js"
import * as Output from "./Output.js"

/**
 * Where the CLI finds the worker when neither `--url` nor `WORKER_URL` is given (the worker's
 * default `WORKER_HOST`:`WORKER_PORT`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUrl = "http://127.0.0.1:8787"

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/**
 * `--url`: the control API's base URL (env `WORKER_URL`, default `http://127.0.0.1:8787`).
 *
 * @since 0.1.0
 * @category options
 */
export const url: Options.Options<string> = Options.text("url").pipe(
  Options.withDescription(`The worker's control API (env WORKER_URL, default ${defaultUrl})`),
  Options.withFallbackConfig(Config.string("WORKER_URL")),
  Options.optional,
  Options.mapEffect((given) => {
    const value = Option.getOrElse(given, () => defaultUrl).trim()
    let parsed: URL
    try {
      parsed = new URL(value)
    } catch {
      return Effect.fail(invalid(`--url: "${value}" is not a URL, e.g. ${defaultUrl}`))
    }
    return parsed.protocol === "http:" || parsed.protocol === "https:"
      ? Effect.succeed(value.replace(/\/+$/, ""))
      : Effect.fail(invalid(`--url: expected an http:// or https:// URL, got "${parsed.protocol}"`))
  })
)

/**
 * `--token`: the control API's bearer token (env `WORKER_API_TOKEN`; prefer the variable, since
 * arguments show in the process list).
 *
 * @since 0.1.0
 * @category options
 */
export const token: Options.Options<Option.Option<Redacted.Redacted<string>>> = Options.redacted("token").pipe(
  Options.withDescription(
    "The control API's bearer token (env WORKER_API_TOKEN; prefer the variable: arguments show in the process list and the shell history)"
  ),
  Options.withFallbackConfig(Config.redacted("WORKER_API_TOKEN")),
  Options.optional
)

/**
 * The options every control-API command takes.
 *
 * @since 0.1.0
 * @category options
 */
export const connection = { url, token, json: Output.jsonOption } as const

/**
 * The parsed connection options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly json: boolean
}

/**
 * The client for a connection; fails with a `Usage` error when no token was given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (connection: Connection) =>
  Effect.gen(function*() {
    if (Option.isNone(connection.token)) {
      return yield* new CliError({
        reason: "Usage",
        message: "No control-API token: set WORKER_API_TOKEN (or pass --token)"
      })
    }
    const bearer = connection.token.value
    return yield* HttpApiClient.make(ControlApi, {
      baseUrl: connection.url,
      transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(bearer))
    })
  })

/**
 * A client of the control API.
 *
 * @since 0.1.0
 * @category models
 */
export type Client = Effect.Effect.Success<ReturnType<typeof make>>

const tagOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined

const messageOf = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : String(error)

/**
 * Turns a failed control-API call into one line the user can act on. Knows the API's problems
 * (401, 404, 409, 400, 429, 502, 503), transport failures and unreadable responses.
 *
 * @since 0.1.0
 * @category errors
 */
export const toCliError = (baseUrl: string) => (error: unknown): CliError => {
  if (error instanceof CliError) return error
  switch (tagOf(error)) {
    case "Unauthorized":
      return new CliError({
        reason: "Unauthorized",
        message: `The worker at ${baseUrl} refused the token (401): check WORKER_API_TOKEN`
      })
    case "NotFound":
      return new CliError({ reason: "NotFound", message: messageOf(error) })
    case "Conflict":
      return new CliError({ reason: "Conflict", message: messageOf(error) })
    case "Invalid": {
      const problems = Predicate.hasProperty(error, "problems") && Array.isArray(error.problems)
        ? (error.problems as ReadonlyArray<{ readonly challengeGuid: string; readonly reason: string }>)
        : []
      const detail = problems.length === 0
        ? ""
        : ` (${problems.map((p) => `${p.challengeGuid}: ${p.reason}`).join(", ")})`
      return new CliError({ reason: "Invalid", message: `${messageOf(error)}${detail}` })
    }
    case "BadRequest":
      return new CliError({ reason: "Invalid", message: messageOf(error) })
    case "Upstream":
      return new CliError({ reason: "Upstream", message: `MX failed: ${messageOf(error)}` })
    case "Unavailable":
    case "NotReady":
    case "Timeout":
    case "TooManyRequests": {
      const retryAfter = Predicate.hasProperty(error, "retryAfter") && typeof error.retryAfter === "number"
        ? ` (try again in ${error.retryAfter} s)`
        : ""
      return new CliError({ reason: "Unavailable", message: `${messageOf(error)}${retryAfter}` })
    }
    case "RequestError":
      return new CliError({
        reason: "Unreachable",
        message: `Cannot reach the worker at ${baseUrl}: ${causeText(error)}`
      })
    case "ResponseError": {
      const status = Predicate.hasProperty(error, "response") && Predicate.hasProperty(error.response, "status")
        ? String(error.response.status)
        : "?"
      return new CliError({
        reason: "BadResponse",
        message: `The worker at ${baseUrl} answered ${status}, which the client does not expect`
      })
    }
    case "ParseError":
      return new CliError({
        reason: "BadResponse",
        message: `Unexpected response from the worker at ${baseUrl}: ${
          oneLine(ParseResult.isParseError(error) ? error.message : messageOf(error))
        }`
      })
    default:
      return new CliError({ reason: "Failed", message: describe(error) })
  }
}

const causeText = (error: unknown): string =>
  describe(Predicate.hasProperty(error, "cause") && error.cause !== undefined ? error.cause : error)

/**
 * Every item of a paginated list, following each page's `next` cursor until the last page.
 *
 * @since 0.1.0
 * @category combinators
 */
export const allPages = <A, E, R>(
  page: (
    cursor: string | undefined
  ) => Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly next: string | null }, E, R>
): Effect.Effect<ReadonlyArray<A>, E, R> =>
  Effect.gen(function*() {
    const all: Array<A> = []
    let cursor: string | undefined = undefined
    for (;;) {
      const { items, next }: { readonly items: ReadonlyArray<A>; readonly next: string | null } = yield* page(cursor)
      all.push(...items)
      if (next === null) return all
      cursor = next
    }
  })

/**
 * Runs a command's work against the worker: builds the client, runs `f`, maps failures to `CliError`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withClient = <A, E, R>(
  connection: Connection,
  f: (client: Client) => Effect.Effect<A, E, R>
): Effect.Effect<A, CliError, R | HttpClient.HttpClient> =>
  make(connection).pipe(
    Effect.flatMap(f),
    Effect.mapError(toCliError(connection.url))
  )
