import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schedule, Stream } from "effect"
import * as MxApiError from "../src/MxApiError.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

/** No retries, so that each test sees the first failure. */
const noRetry = { retrySchedule: Schedule.stop }

const failureOf = (reply: Fake.Reply) =>
  Effect.gen(function*() {
    const fake = Fake.make(() => reply)
    const mx = yield* Fake.client(fake, noRetry)
    return yield* Effect.flip(mx.readMember({ userGuid, memberGuid }))
  })

const statuses: ReadonlyArray<readonly [number, MxApiError.Reason]> = [
  [400, "BadRequest"],
  [401, "Unauthorized"],
  [403, "Forbidden"],
  [404, "NotFound"],
  [405, "NotAllowed"],
  [406, "NotAcceptable"],
  [409, "Conflict"],
  [422, "Unprocessable"],
  [429, "RateLimited"],
  [503, "Unavailable"],
  [500, "ServerError"],
  [502, "ServerError"],
  [504, "ServerError"],
  [599, "ServerError"],
  [418, "UnexpectedStatus"],
  [302, "UnexpectedStatus"]
]

describe("MxApiError", () => {
  for (const [status, reason] of statuses) {
    it.effect(`${status} -> ${reason}, with MX's message from both body shapes and from none`, () =>
      Effect.gen(function*() {
        const flat = yield* failureOf({ status, body: { error: `flat message ${status}` } })
        assert.strictEqual(flat._tag, "MxApiError")
        assert.strictEqual(flat.reason, reason)
        assert.strictEqual(flat.status, status)
        assert.strictEqual(flat.operation, "readMember")
        assert.strictEqual(flat.message, `flat message ${status}`)

        const nested = yield* failureOf({ status, body: { error: { message: `nested message ${status}` } } })
        assert.strictEqual(nested.reason, reason)
        assert.strictEqual(nested.message, `nested message ${status}`)

        const none = yield* failureOf({ status })
        assert.strictEqual(none.reason, reason)
        assert.strictEqual(none.status, status)
        assert.include(none.message, String(status))
        assert.include(none.message, "readMember")

        const html = yield* failureOf({ status, body: "<html>Bad gateway</html>" })
        assert.strictEqual(html.reason, reason)
        assert.notInclude(html.message, "<html>")
      }))
  }

  it.effect("a 2xx body that is not JSON is a Decode error naming the operation", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 200, body: "this is not json {" })
      assert.strictEqual(error.reason, "Decode")
      assert.strictEqual(error.status, 200)
      assert.strictEqual(error.operation, "readMember")
      assert.include(error.message, "readMember")
      assert.include(error.message, "not JSON")
    }))

  it.effect("JSON of the wrong shape is a Decode error naming the operation and the field", () =>
    Effect.gen(function*() {
      const missing = yield* failureOf({ status: 200, body: { members: [] } })
      assert.strictEqual(missing.reason, "Decode")
      assert.strictEqual(missing.operation, "readMember")
      assert.include(missing.message, "readMember")
      assert.include(missing.message, "member")

      // An unknown status string decodes (kept as UnknownStatus); a status that is not a string does not.
      const badStatus = yield* failureOf({ status: 200, body: Fake.memberBody({ connection_status: 42 }) })
      assert.strictEqual(badStatus.reason, "Decode")
      assert.include(badStatus.message, "42")
    }))

  it.effect("an empty 200 body is a Decode error, not a crash", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 200, body: "" })
      assert.strictEqual(error.reason, "Decode")
    }))

  it.effect("a list page of the wrong shape is a Decode error of the list operation", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: { accounts: "nope" } }))
      const mx = yield* Fake.client(fake, noRetry)
      const error = yield* Effect.flip(Stream.runCollect(mx.listMemberAccounts({ userGuid, memberGuid })))
      assert.strictEqual(error.reason, "Decode")
      assert.strictEqual(error.operation, "listMemberAccounts")
    }))

  it.effect("a transport failure is a Transport error without a status", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ transport: "connect ECONNREFUSED 10.0.0.1:443" })
      assert.strictEqual(error.reason, "Transport")
      assert.strictEqual(error.status, undefined)
      assert.strictEqual(error.operation, "readMember")
      assert.include(error.message, "ECONNREFUSED")
    }))

  it.effect("Retry-After in seconds is kept on the error", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 429, headers: { "retry-after": "7" } })
      assert.strictEqual(error.retryAfterMillis, 7000)
    }))

  it("parseRetryAfter reads seconds and HTTP dates, and ignores garbage", () => {
    const now = Date.parse("2025-01-01T00:00:00Z")
    assert.deepStrictEqual(MxApiError.parseRetryAfter("3", now), Option.some(3000))
    assert.deepStrictEqual(MxApiError.parseRetryAfter("Wed, 01 Jan 2025 00:00:05 GMT", now), Option.some(5000))
    assert.deepStrictEqual(MxApiError.parseRetryAfter("Tue, 31 Dec 2024 00:00:00 GMT", now), Option.some(0))
    assert.deepStrictEqual(MxApiError.parseRetryAfter("soon", now), Option.none())
    assert.deepStrictEqual(MxApiError.parseRetryAfter(undefined, now), Option.none())
  })

  it("messageFromBody reads both MX shapes and ignores others", () => {
    assert.deepStrictEqual(MxApiError.messageFromBody(`{"error":"a"}`), Option.some("a"))
    assert.deepStrictEqual(MxApiError.messageFromBody(`{"error":{"message":"b","code":1}}`), Option.some("b"))
    assert.deepStrictEqual(MxApiError.messageFromBody(`{"error":{"code":1}}`), Option.none())
    assert.deepStrictEqual(MxApiError.messageFromBody(`{"error":""}`), Option.none())
    assert.deepStrictEqual(MxApiError.messageFromBody(`[1,2]`), Option.none())
    assert.deepStrictEqual(MxApiError.messageFromBody(`not json`), Option.none())
    assert.deepStrictEqual(MxApiError.messageFromBody(``), Option.none())
  })

  it.effect("the error is a Schema: it round-trips through JSON", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 409, body: { error: "duplicate" } })
      const json = JSON.parse(JSON.stringify(error))
      assert.strictEqual(json.reason, "Conflict")
      assert.strictEqual(json.message, "duplicate")
      assert.strictEqual(json.operation, "readMember")
      assert.strictEqual(json.status, 409)
    }))
})
