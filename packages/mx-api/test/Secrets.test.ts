import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Cause, Effect, Exit, Logger, LogLevel, Option, Redacted, Stream, Tracer } from "effect"
import { inspect } from "node:util"
import type { MxApiError } from "../src/MxApiError.js"
import type * as MxClient from "../src/MxClient.js"
import { runWithClock } from "./support/Clock.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

const password = "hunter2-Credential-Secret"
const username = "user-Credential-Secret"
const answer = "blue-MFA-Answer-Secret"

/** Every form in which a secret could leak. */
const secrets = [
  Fake.apiKey,
  Buffer.from(`${Fake.clientId}:${Fake.apiKey}`).toString("base64"),
  Buffer.from(Fake.apiKey).toString("base64"),
  password,
  username,
  answer
]

const assertClean = (text: string, where: string) => {
  for (const secret of secrets) assert.notInclude(text, secret, `${where} leaks a secret`)
}

/** Every printed form of an error. */
const renderings = (error: MxApiError): ReadonlyArray<readonly [string, string]> => [
  ["message", error.message],
  ["String()", String(error)],
  ["toString()", error.toString()],
  ["JSON", JSON.stringify(error)],
  ["inspect", inspect(error, { depth: 10 })],
  ["stack", error.stack ?? ""],
  ["Cause.pretty", Cause.pretty(Cause.fail(error))]
]

/** Captures every log line, as logfmt and as JSON, and every span name and attribute. */
const makeCapture = () => {
  const lines: Array<string> = []
  const spans: Array<string> = []
  const logger = Logger.zip(
    Logger.map(Logger.logfmtLogger, (line) => lines.push(line)),
    Logger.map(Logger.jsonLogger, (line) => lines.push(line))
  )
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      spans.push(name)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${spans.length}`,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled: true,
        kind,
        end: () => undefined,
        attribute: (key, value) => {
          attributes.set(key, value)
          spans.push(`${name} ${key}=${String(value)}`)
        },
        event: (event, _, eventAttributes) => spans.push(`${name} event ${event} ${JSON.stringify(eventAttributes)}`),
        addLinks: () => undefined
      }
      return span
    },
    context: (f) => f()
  })
  const observe = <A, E>(effect: Effect.Effect<A, E>) =>
    effect.pipe(
      // A caller that logs its failures, as the worker does.
      Effect.tapErrorCause((cause) => Effect.logError("MX call failed", cause)),
      Effect.annotateLogs({ component: "test" }),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Effect.withTracer(tracer)
    )
  return { lines, spans, observe }
}

const credentials = [
  Member.CredentialValue.make({ guid: Member.CredentialGuid.make("CRD-user"), value: Redacted.make(username) }),
  Member.CredentialValue.make({ guid: Member.CredentialGuid.make("CRD-pass"), value: Redacted.make(password) })
]
const answers = [
  Member.CredentialValue.make({ guid: Member.CredentialGuid.make("CRD-q"), value: Redacted.make(answer) })
]

/** A fake MX that is as unhelpful as possible: it echoes the request (headers and body) in its errors. */
const echoingMx = (reply: (echo: string) => Fake.Reply) =>
  Fake.make((request) => reply(`${JSON.stringify(request.headers)} ${request.bodyText ?? ""}`))

const scenarios: ReadonlyArray<
  readonly [string, Fake.FakeMx, (mx: MxClient.Service) => Effect.Effect<unknown, MxApiError>]
> = [
  [
    "401 echoing the Authorization header",
    echoingMx((echo) => ({ status: 401, body: { error: `Invalid credentials: ${echo}` } })),
    (mx) => mx.readMember({ userGuid, memberGuid })
  ],
  [
    "createMember 422 echoing the credentials (nested shape)",
    echoingMx((echo) => ({ status: 422, body: { error: { message: `Bad credentials ${echo}` } } })),
    (mx) => mx.createMember({ userGuid, institutionCode: Member.InstitutionCode.make("mxbank"), credentials })
  ],
  [
    "updateMember 503 (retried, logged) echoing the credentials",
    echoingMx((echo) => ({ status: 503, body: { error: `Down; got ${echo}` } })),
    (mx) => mx.updateMember({ userGuid, memberGuid, credentials })
  ],
  [
    "resumeAggregation 400 echoing the answers",
    echoingMx((echo) => ({ status: 400, body: { error: `Wrong answer ${echo}` } })),
    (mx) => mx.resumeAggregation({ userGuid, memberGuid, answers })
  ],
  [
    "resumeAggregation 429 (retried, logged) echoing the answers",
    echoingMx((echo) => ({ status: 429, body: { error: `Slow down ${echo}` } })),
    (mx) => mx.resumeAggregation({ userGuid, memberGuid, answers })
  ],
  [
    "createMember transport failure whose description holds the body",
    echoingMx((echo) => ({ transport: `socket hang up while sending ${echo}` })),
    (mx) => mx.createMember({ userGuid, institutionCode: Member.InstitutionCode.make("mxbank"), credentials })
  ],
  [
    "updateMember 200 of the wrong shape echoing the credentials (Decode)",
    echoingMx((echo) => ({ status: 200, body: { member: { guid: 42, echo } } })),
    (mx) => mx.updateMember({ userGuid, memberGuid, credentials })
  ],
  [
    "resumeAggregation 200 that is not JSON, echoing the answers (Decode)",
    echoingMx((echo) => ({ status: 200, body: `<html>${echo}` })),
    (mx) => mx.resumeAggregation({ userGuid, memberGuid, answers })
  ],
  [
    "a list failing with 500 on its second page (retried, logged)",
    Fake.make((request) =>
      request.url.searchParams.get("page") === "1"
        ? { status: 200, body: Fake.pageBody("accounts", [{ guid: "ACT-1" }], 1, 2) }
        : { status: 500, body: { error: `Oops ${JSON.stringify(request.headers)}` } }
    ),
    (mx) => Stream.runDrain(mx.listMemberAccounts({ userGuid, memberGuid }))
  ]
]

describe("MxClient secrets", () => {
  for (const [name, fake, use] of scenarios) {
    it.effect(`${name}: no secret in the error or the logs`, () =>
      Effect.gen(function*() {
        const capture = makeCapture()
        const mx = yield* Fake.client(fake)
        const exit = yield* runWithClock(capture.observe(use(mx)))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        assert.strictEqual(error?._tag, "MxApiError")
        // The fake did receive the secrets: the test would see a leak.
        assert.include(fake.requests.map((r) => `${r.headers["authorization"]} ${r.bodyText}`).join(" "), "Basic ")
        for (const [form, text] of renderings(error!)) assertClean(text, `error ${form}`)
        assert.isAbove(capture.lines.length, 0, "the failure was logged")
        capture.lines.forEach((line) => assertClean(line, "log line"))
        assert.isAbove(capture.spans.length, 0, "spans were recorded")
        capture.spans.forEach((span) => assertClean(span, "span"))
      }))
  }

  it.effect("the echoed secrets are replaced, MX's message is otherwise kept", () =>
    Effect.gen(function*() {
      const fake = echoingMx(() => ({ status: 422, body: { error: `Password ${password} is not valid` } }))
      const mx = yield* Fake.client(fake)
      const error = yield* Effect.flip(
        mx.createMember({ userGuid, institutionCode: Member.InstitutionCode.make("mxbank"), credentials })
      )
      assert.strictEqual(error.message, "Password <redacted> is not valid")
    }))

  it.effect("spans carry the operation and guids", () =>
    Effect.gen(function*() {
      const capture = makeCapture()
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody() }))
      const mx = yield* Fake.client(fake)
      yield* capture.observe(mx.updateMember({ userGuid, memberGuid, credentials }))
      assert.include(capture.spans, "MxClient.updateMember")
      assert.include(capture.spans, "MxClient.updateMember mx.member_guid=" + memberGuid)
      assert.include(capture.spans, "MxClient.updateMember mx.user_guid=" + userGuid)
      capture.spans.forEach((span) => assertClean(span, "span"))
    }))

  it("the params' secrets are Redacted: printing the params shows none", () => {
    const params = { userGuid, memberGuid, credentials, answers }
    for (const text of [JSON.stringify(params), String(credentials[0]), inspect(params, { depth: 10 })]) {
      assertClean(text, "params")
    }
  })
})
