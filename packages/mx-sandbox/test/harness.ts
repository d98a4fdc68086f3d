/**
 * Test harness: a sandbox on TestClock reached through its in-process client, a small MX API
 * caller, and a recorder that checks every response against MX's OpenAPI document.
 */
import { HttpClientRequest } from "@effect/platform"
import { expect } from "@effect/vitest"
import { Effect, type Layer, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as Conformance from "../src/Conformance.js"
import { Institutions, type Options, Sandbox } from "../src/index.js"

/** MX's spec, vendored in the repository (`vendor/mx-openapi`). */
export const specText = readFileSync(new URL("../../../vendor/mx-openapi/mx_platform_api.yml", import.meta.url), "utf8")

export const validator = Conformance.make(specText)

/** Every exchange of a test file, checked against the spec as it happens. */
export interface Recorder {
  readonly observe: (exchange: Options.Exchange) => void
  readonly violations: Array<string>
  readonly exchanges: Array<Options.Exchange>
  /** To call in `afterAll`: no violation, and there was something to check. */
  readonly assertConformant: () => void
}

export const makeRecorder = (): Recorder => {
  const violations: Array<string> = []
  const exchanges: Array<Options.Exchange> = []
  return {
    violations,
    exchanges,
    observe: (exchange) => {
      exchanges.push(exchange)
      violations.push(...validator.check(exchange))
    },
    assertConformant: () => {
      expect(violations).toEqual([])
      expect(exchanges.length).toBeGreaterThan(0)
    }
  }
}

/** A fixed MX start time, so dates in tests are readable. */
export const startAt = "2025-03-01T12:00:00Z"

/** The sandbox on TestClock for one test, its exchanges checked by `recorder`. */
export const sandboxLayer = (recorder: Recorder, options: Options.Options = {}): Layer.Layer<Sandbox.Sandbox> =>
  Sandbox.layer({ startAt, background: { enabled: false }, ...options, observe: recorder.observe })

export interface Answer {
  readonly status: number
  readonly body: any
  readonly text: string
  readonly headers: Readonly<Record<string, string>>
}

export interface CallOptions {
  readonly body?: unknown
  /** Sent as is (for malformed JSON). */
  readonly rawBody?: string
  readonly headers?: Record<string, string>
  /** Leave out the Authorization header. */
  readonly anonymous?: boolean
}

/** Calls the sandbox's MX API in-process, with its credentials and MX's Accept header. */
export const call = (method: "GET" | "POST" | "PUT" | "DELETE", path: string, options: CallOptions = {}) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { apiKey, clientId } = sandbox.credentials
    let request = HttpClientRequest.make(method)(`http://sandbox.test${path}`).pipe(
      HttpClientRequest.setHeader("Accept", "application/vnd.mx.api.v1+json")
    )
    if (options.anonymous !== true) request = HttpClientRequest.basicAuth(request, clientId, Redacted.value(apiKey))
    if (options.rawBody !== undefined) {
      request = HttpClientRequest.bodyText(request, options.rawBody, "application/json")
    } else if (options.body !== undefined) {
      request = HttpClientRequest.bodyUnsafeJson(request, options.body)
    }
    request = HttpClientRequest.setHeaders(request, options.headers ?? {})
    const response = yield* sandbox.client.execute(request)
    const text = yield* response.text
    return {
      status: response.status,
      text,
      body: text === "" || !(response.headers["content-type"] ?? "").includes("json") ? undefined : JSON.parse(text),
      headers: response.headers
    } satisfies Answer
  }).pipe(Effect.scoped, Effect.orDie)

export const get = (path: string, options?: CallOptions) => call("GET", path, options)
export const post = (path: string, body?: unknown, options?: CallOptions) =>
  call("POST", path, body === undefined ? options : { ...options, body })
export const put = (path: string, body?: unknown, options?: CallOptions) =>
  call("PUT", path, body === undefined ? options : { ...options, body })
export const del = (path: string, options?: CallOptions) => call("DELETE", path, options)

/** MX Bank credentials for `createMember`. */
export const mxbankCredentials = (password: string, username = "mxuser") => [
  { guid: Institutions.mxbankCredentials[0]!.guid, value: username },
  { guid: Institutions.mxbankCredentials[1]!.guid, value: password }
]

/** Creates a user and returns its guid. */
export const createUser = (id?: string) =>
  Effect.map(post("/users", { user: { id: id ?? "user-1", email: "user@example.com" } }), (answer) => {
    expect(answer.status).toBe(200)
    return answer.body.user.guid as string
  })

/** Creates an MX Bank member with a password and returns the answer. */
export const createMember = (
  userGuid: string,
  password: string,
  extra: Record<string, unknown> = {}
) =>
  post(`/users/${userGuid}/members`, {
    member: { institution_code: "mxbank", credentials: mxbankCredentials(password), ...extra }
  })

/** A user with one member; returns both guids and the create answer. */
export const userWithMember = (password: string, extra: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const userGuid = yield* createUser()
    const created = yield* createMember(userGuid, password, extra)
    return { userGuid, memberGuid: created.body?.member?.guid as string, created }
  })

/** The member's `/status`. */
export const status = (userGuid: string, memberGuid: string) =>
  Effect.map(get(`/users/${userGuid}/members/${memberGuid}/status`), (answer) => answer.body.member)
