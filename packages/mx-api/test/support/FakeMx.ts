/**
 * An in-memory `HttpClient` standing in for MX: it records every request (method, URL, headers, JSON
 * body, the TestClock time it arrived, how many were in flight) and answers with what a test's
 * handler returns.
 */
import { HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Member } from "@mx-aggregation/domain"
import { Clock, type Duration, Effect, Redacted } from "effect"
import * as MxClient from "../../src/MxClient.js"

/** A request as MX would see it. */
export interface Recorded {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  /** The JSON body, or undefined when there is none. */
  readonly body: unknown
  /** The raw body text, for scanning. */
  readonly bodyText: string | undefined
  /** TestClock millis when it arrived. */
  readonly at: number
}

/** What the fake answers: an HTTP response, or a transport failure. */
export type Reply =
  | {
    readonly status: number
    /** An object or array is sent as JSON; a string as is; undefined sends no body. */
    readonly body?: unknown
    readonly headers?: Record<string, string>
    /** How long the server takes (TestClock). */
    readonly delay?: Duration.DurationInput
  }
  | { readonly transport: string }

/** The recorder and its client. */
export interface FakeMx {
  readonly client: HttpClient.HttpClient
  readonly requests: ReadonlyArray<Recorded>
  /** The largest number of requests in flight at once. */
  readonly maxInFlight: () => number
}

const bodyText = (request: HttpClientRequest.HttpClientRequest): string | undefined => {
  const body = request.body
  switch (body._tag) {
    case "Uint8Array":
      return new TextDecoder().decode(body.body)
    case "Empty":
      return undefined
    default:
      return `<${body._tag} body>`
  }
}

/** An in-memory MX answering with `handler(request, index)`. */
export const make = (handler: (request: Recorded, index: number) => Reply): FakeMx => {
  const requests: Array<Recorded> = []
  let inFlight = 0
  let maxInFlight = 0
  const client = HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const text = bodyText(request)
      const recorded: Recorded = {
        method: request.method,
        url,
        headers: { ...request.headers },
        body: text === undefined || text.startsWith("<") ? undefined : JSON.parse(text),
        bodyText: text,
        at: yield* Clock.currentTimeMillis
      }
      const index = requests.length
      requests.push(recorded)
      const reply = handler(recorded, index)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      return yield* Effect.gen(function*() {
        if ("transport" in reply) {
          return yield* Effect.fail(
            new HttpClientError.RequestError({
              request,
              reason: "Transport",
              cause: new Error(reply.transport),
              description: reply.transport
            })
          )
        }
        if (reply.delay !== undefined) yield* Effect.sleep(reply.delay)
        const body = reply.body === undefined
          ? null
          : typeof reply.body === "string"
          ? reply.body
          : JSON.stringify(reply.body)
        const headers = {
          ...(typeof reply.body === "object" && reply.body !== null
            ? { "content-type": "application/vnd.mx.api.v1+json" }
            : {}),
          ...reply.headers
        }
        return HttpClientResponse.fromWeb(request, new Response(body, { status: reply.status, headers }))
      }).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
    })
  )
  return { client, requests, maxInFlight: () => maxInFlight }
}

/** Test credentials of the fake. */
export const clientId = "test-client-id"
/** A recognisable API key, so that tests can look for leaks. */
export const apiKey = "sk-test-SECRET-API-KEY-0042"
/** `Authorization` value the client must send. */
export const expectedAuthorization = `Basic ${Buffer.from(`${clientId}:${apiKey}`).toString("base64")}`

/** A client over a fake, with test options (no jitter worries: TestClock is advanced generously). */
export const client = (
  fake: FakeMx,
  options: Partial<MxClient.Options> = {}
): Effect.Effect<MxClient.Service> =>
  MxClient.make({
    baseUrl: "https://mx.test",
    clientId,
    apiKey: Redacted.make(apiKey),
    ...options
  }).pipe(Effect.provideService(HttpClient.HttpClient, fake.client))

/** Ids used across tests. */
export const userGuid = Member.UserGuid.make("USR-11111111-aaaa")
/** A member guid. */
export const memberGuid = Member.MemberGuid.make("MBR-22222222-bbbb")

/** A minimal member body as MX returns it. */
export const memberBody = (overrides: Record<string, unknown> = {}) => ({
  member: {
    guid: memberGuid,
    user_guid: userGuid,
    institution_code: "mxbank",
    connection_status: "CONNECTED",
    is_being_aggregated: false,
    ...overrides
  }
})

/** A page of a list response under `key`. */
export const pageBody = (
  key: string,
  items: ReadonlyArray<unknown>,
  page: number,
  totalPages: number,
  perPage = 25
) => ({
  [key]: items,
  pagination: { current_page: page, per_page: perPage, total_entries: totalPages * perPage, total_pages: totalPages }
})
