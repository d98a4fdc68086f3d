import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import {
  call,
  createMember,
  createUser,
  del,
  get,
  makeRecorder,
  post,
  put,
  sandboxLayer,
  userWithMember
} from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

const provide = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox>) => Effect.provide(effect, sandboxLayer(recorder))

/** An MX error: the status, and the documented body `{"error": {"message": "…"}}`. */
const assertError = (answer: { status: number; body: any }, status: number) => {
  assert.strictEqual(answer.status, status)
  assert.isString(answer.body?.error?.message)
  assert.deepStrictEqual(Object.keys(answer.body), ["error"])
}

describe("authentication and headers", () => {
  it.effect("Basic auth with the configured client id and api key; 401 otherwise", () =>
    provide(Effect.gen(function*() {
      assertError(yield* get("/institutions", { anonymous: true }), 401)
      const wrong = `Basic ${Buffer.from("sandbox-client-id:wrong").toString("base64")}`
      assertError(yield* get("/institutions", { anonymous: true, headers: { Authorization: wrong } }), 401)
      assert.strictEqual((yield* get("/institutions")).status, 200)
    })))

  it.effect("the Basic scheme name is case-insensitive (RFC 7235 §2.1): basic, BASIC, bAsIc", () =>
    provide(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = Buffer.from(`${sandbox.credentials.clientId}:${Redacted.value(sandbox.credentials.apiKey)}`)
        .toString("base64")
      for (const scheme of ["Basic", "basic", "BASIC", "bAsIc"]) {
        const answer = yield* get("/institutions", {
          anonymous: true,
          headers: { Authorization: `${scheme} ${token}` }
        })
        assert.strictEqual(answer.status, 200, scheme)
      }
      assert.strictEqual(
        (yield* get("/institutions", { anonymous: true, headers: { Authorization: `basic   ${token}` } })).status,
        200
      )
      assertError(yield* get("/institutions", { anonymous: true, headers: { Authorization: `Bearer ${token}` } }), 401)
      assertError(yield* get("/institutions", { anonymous: true, headers: { Authorization: `Basic${token}` } }), 401)
      assertError(yield* get("/institutions", { anonymous: true, headers: { Authorization: "basic" } }), 401)
    })))

  it.effect("a custom client id and api key are the only ones accepted", () =>
    Effect.gen(function*() {
      const right = `Basic ${Buffer.from("partner:secret").toString("base64")}`
      assert.strictEqual(
        (yield* get("/institutions", { anonymous: true, headers: { Authorization: right } })).status,
        200
      )
      const defaults = `Basic ${Buffer.from("sandbox-client-id:sandbox-api-key").toString("base64")}`
      assertError(yield* get("/institutions", { anonymous: true, headers: { Authorization: defaults } }), 401)
    }).pipe(Effect.provide(sandboxLayer(recorder, { clientId: "partner", apiKey: "secret" }))))

  it.effect("Accept: MX's v1 type or application/json; 406 for another MX vendor type", () =>
    provide(Effect.gen(function*() {
      assert.strictEqual((yield* get("/institutions", { headers: { Accept: "application/json" } })).status, 200)
      assertError(yield* get("/institutions", { headers: { Accept: "application/vnd.mx.api.v2+json" } }), 406)
      assertError(yield* get("/institutions", { headers: { Accept: "application/vnd.mx.atrium.v1+json" } }), 406)
      const answer = yield* get("/institutions")
      assert.strictEqual(answer.headers["content-type"], "application/vnd.mx.api.v1+json")
    })))

  it.effect("Accept-Version v20111101 is accepted, another version refused (406)", () =>
    provide(Effect.gen(function*() {
      assert.strictEqual((yield* get("/institutions", { headers: { "Accept-Version": "v20111101" } })).status, 200)
      assertError(yield* get("/institutions", { headers: { "Accept-Version": "v20250224" } }), 406)
      assertError(yield* get("/institutions", { headers: { "Accept-Version": "v1" } }), 406)
    })))
})

describe("bad requests get MX's status codes and an error body, never a 500", () => {
  it.effect("malformed JSON, missing root wrapper, empty bodies -> 400", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser("first")
      assertError(yield* call("POST", "/users", { rawBody: "{\"user\": {\"id\": " }), 400)
      assertError(yield* call("POST", "/users", { rawBody: "" }), 400)
      assertError(yield* post("/users", { id: "no-wrapper" }), 400)
      assertError(yield* post("/users", { user: {} }), 400)
      assertError(yield* post("/users", [1, 2]), 400)
      const members = `/users/${userGuid}/members`
      assertError(yield* call("POST", members, { rawBody: "not json" }), 400)
      assertError(yield* post(members, { institution_code: "mxbank" }), 400)
      assertError(yield* post(members, { member: { institution_code: 42 } }), 400)
      assertError(yield* post(members, { member: { institution_code: "mxbank", credentials: [] } }), 400)
      assertError(yield* post(members, { member: { institution_code: "nobank", credentials: [] } }), 404)
      const { memberGuid } = yield* userWithMember("password")
      const path = `/users/${(yield* get("/users")).body.users[1].guid}/members/${memberGuid}`
      assertError(yield* put(path, { member: {} }), 400)
      assertError(yield* put(path, {}), 400)
      assertError(yield* call("PUT", path, { rawBody: "" }), 400)
      assertError(yield* put(path, { member: { credentials: "nope" } }), 400)
    })))

  it.effect("unknown guids -> 404, for users, members, accounts, institutions and routes", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      assertError(yield* get("/users/USR-nope"), 404)
      assertError(yield* get("/users/USR-nope/members"), 404)
      assertError(yield* get(`/users/${userGuid}/members/MBR-nope`), 404)
      assertError(yield* get(`/users/${userGuid}/members/MBR-nope/status`), 404)
      assertError(yield* post(`/users/${userGuid}/members/MBR-nope/aggregate`), 404)
      assertError(yield* put(`/users/${userGuid}/members/MBR-nope/resume`, { member: { challenges: [] } }), 404)
      assertError(yield* del(`/users/${userGuid}/members/MBR-nope`), 404)
      assertError(yield* get(`/users/USR-nope/members/${memberGuid}`), 404)
      assertError(yield* get(`/users/${userGuid}/accounts/ACT-nope/transactions`), 404)
      assertError(yield* get("/institutions/nobank"), 404)
      assertError(yield* get("/institutions/nobank/credentials"), 404)
      assertError(yield* get("/no/such/route"), 404)
      // A member of another user is not found through this user.
      const other = yield* createUser("other")
      assertError(yield* get(`/users/${other}/members/${memberGuid}`), 404)
    })))

  it.effect("records_per_page out of range falls back to 25 (the spec); a non-integer is a 400", () =>
    provide(Effect.gen(function*() {
      for (let i = 0; i < 30; i++) yield* post("/users", { user: { id: `u-${i}` } })
      const big = yield* get("/users?records_per_page=5000")
      assert.strictEqual(big.status, 200)
      assert.deepStrictEqual(big.body.pagination, { current_page: 1, per_page: 25, total_entries: 30, total_pages: 2 })
      assert.strictEqual((yield* get("/users?records_per_page=3")).body.pagination.per_page, 25)
      assert.strictEqual((yield* get("/users?records_per_page=-1")).body.pagination.per_page, 25)
      assert.strictEqual((yield* get("/institutions?records_per_page=500")).body.pagination.per_page, 25)
      assertError(yield* get("/users?records_per_page=abc"), 400)
      assertError(yield* get("/users?page=first"), 400)
      assertError(yield* get("/users?is_disabled=maybe"), 400)
      const sandbox = yield* Sandbox.Sandbox
      const counted = yield* sandbox.stats
      assert.isUndefined(counted.byStatus["500"])
    })))

  it.effect("invalid date filters on transactions -> 400", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser()
      assertError(yield* get(`/users/${userGuid}/transactions?from_date=yesterday`), 400)
      assertError(yield* get(`/users/${userGuid}/transactions?to_updated_at=2025-13-45`), 400)
      assert.strictEqual((yield* get(`/users/${userGuid}/transactions?from_date=2025-01-01`)).status, 200)
    })))
})

describe("POST /users with an empty user object", () => {
  // MX's spec, createUser requestBody: "None of these parameters are required, but the user object
  // cannot be empty" (vendor/mx-openapi/mx_platform_api.yml and v20250224.yml). MxClient.createUser
  // sends {"user":{"is_disabled":false}} when given no field.
  it.effect("{\"user\":{}} is refused (400), {\"user\":{\"is_disabled\":false}} creates a user", () =>
    provide(Effect.gen(function*() {
      const empty = yield* post("/users", { user: {} })
      assertError(empty, 400)
      assert.strictEqual(empty.body.error.message, "The user object cannot be empty.")
      const created = yield* post("/users", { user: { is_disabled: false } })
      assert.strictEqual(created.status, 200)
      assert.deepInclude(created.body.user, { id: null, email: null, is_disabled: false })
      const guid = created.body.user.guid
      assertError(yield* put(`/users/${guid}`, { user: {} }), 400)
    })))
})

describe("request bodies over 1 MB -> 413, not read into memory", () => {
  /** `{"user":{"id":"big"}}` padded with spaces to `size` bytes. */
  const padded = (size: number) => {
    const json = JSON.stringify({ user: { id: "big" } })
    return json + " ".repeat(size - json.length)
  }

  it.effect("a body of 1 MB is read; one byte more is refused with MX's error body", () =>
    provide(Effect.gen(function*() {
      const exact = yield* call("POST", "/users", { rawBody: padded(1024 * 1024) })
      assert.strictEqual(exact.status, 200)
      const over = yield* call("POST", "/users", { rawBody: padded(1024 * 1024 + 1) })
      assertError(over, 413)
      assert.strictEqual(over.body.error.message, "The request body is larger than 1 MB.")
      assert.strictEqual(over.headers["content-type"], "application/vnd.mx.api.v1+json")
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual((yield* sandbox.stats).byStatus["413"], 1)
      assert.lengthOf((yield* get("/users")).body.users, 1)
    })))

  it.effect("a Content-Length over 1 MB is refused before the body is read, on any route", () =>
    provide(Effect.gen(function*() {
      const headers = { "Content-Length": String(1024 * 1024 + 1) }
      assertError(yield* call("POST", "/users", { rawBody: "{}", headers }), 413)
      assertError(yield* call("POST", "/users", { rawBody: "{}", headers, anonymous: true }), 413)
      const { memberGuid, userGuid } = yield* userWithMember("password")
      const member = `/users/${userGuid}/members/${memberGuid}`
      assertError(yield* call("PUT", member, { rawBody: "{}", headers }), 413)
      assertError(yield* call("PUT", `${member}/resume`, { rawBody: "{}", headers }), 413)
      assertError(yield* call("POST", `${member}/aggregate`, { rawBody: "{}", headers }), 413)
    })))
})

describe("400 messages name the field, never the value sent", () => {
  const message = (answer: { status: number; body: any; text: string }, secrets: ReadonlyArray<string> = []) => {
    assertError(answer, 400)
    for (const secret of secrets) assert.notInclude(answer.text, secret)
    assert.notInclude(answer.text, "Expected")
    assert.notInclude(answer.text, "actual")
    return answer.body.error.message as string
  }

  it.effect("users, members, credentials, use_cases, resume answers, query parameters", () =>
    provide(Effect.gen(function*() {
      assert.strictEqual(
        message(yield* post("/users", { user: { id: 123456789 } }), ["123456789"]),
        "user.id must be a string or null."
      )
      assert.strictEqual(
        message(yield* post("/users", { user: { is_disabled: "sometimes" } }), ["sometimes"]),
        "user.is_disabled must be a boolean or null."
      )
      const userGuid = yield* createUser("messages")
      const members = `/users/${userGuid}/members`
      assert.strictEqual(
        message(yield* post(members, { member: { credentials: [] } })),
        "member.institution_code is required."
      )
      assert.strictEqual(
        message(yield* post(members, { member: { institution_code: 42 } }), ["42"]),
        "member.institution_code must be a string."
      )
      assert.strictEqual(
        message(
          yield* post(members, {
            member: {
              institution_code: "mxbank",
              credentials: [{ guid: "CRD-1", value: "mxuser" }, { guid: "CRD-2", value: 31415926 }]
            }
          }),
          ["31415926"]
        ),
        "member.credentials[1].value must be a string."
      )
      assert.strictEqual(
        message(
          yield* post(members, { member: { institution_code: "mxbank", credentials: [{ value: "hunter2-pass" }] } }),
          [
            "hunter2-pass"
          ]
        ),
        "member.credentials[0].guid is required."
      )
      assert.strictEqual(
        message(yield* post(members, { member: { institution_code: "mxbank", credentials: "hunter2-pass" } }), [
          "hunter2-pass"
        ]),
        "member.credentials must be an array."
      )
      const { memberGuid } = yield* createMember(userGuid, "challenge").pipe(
        Effect.map((answer) => ({ memberGuid: answer.body.member.guid as string }))
      )
      const member = `${members}/${memberGuid}`
      assert.strictEqual(
        message(yield* put(member, { member: { use_cases: ["PFM", "SECRET_CASE"] } }), ["SECRET_CASE"]),
        "member.use_cases[1] must be one of PFM, MONEY_MOVEMENT."
      )
      assert.strictEqual(
        message(yield* put(member, { member: { skip_aggregation: "yes" } })),
        "member.skip_aggregation must be a boolean or null."
      )
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* get(`${member}/status`)).body.member.connection_status, "CHALLENGED")
      const challenge = (yield* get(`${member}/challenges`)).body.challenges[0].guid
      assert.strictEqual(
        message(
          yield* put(`${member}/resume`, { member: { challenges: [{ guid: challenge, value: { otp: "982451" } }] } }),
          ["982451"]
        ),
        "member.challenges[0].value must be a string."
      )
      assert.strictEqual(
        message(
          yield* put(`${member}/resume`, { member: { challenges: { guid: challenge, value: "correct-answer" } } }),
          [
            "correct-answer"
          ]
        ),
        "member.challenges must be an array."
      )
      assert.strictEqual(message(yield* put(`${member}/resume`, { member: {} })), "member.challenges is required.")
      assert.strictEqual(
        message(yield* get("/users?records_per_page=abc123"), ["abc123"]),
        "records_per_page must be an integer."
      )
      assert.strictEqual(
        message(yield* get(`/users/${userGuid}/transactions?from_date=2025-13-45`), ["2025-13-45"]),
        "from_date is not a valid date."
      )
    })))
})

describe("pagination and listings", () => {
  it.effect("pages are stable slices with MX's pagination envelope", () =>
    provide(Effect.gen(function*() {
      for (let i = 0; i < 23; i++) yield* post("/users", { user: { id: `user-${i}`, email: `u${i}@example.com` } })
      const page1 = yield* get("/users?records_per_page=10")
      const page3 = yield* get("/users?records_per_page=10&page=3")
      const page4 = yield* get("/users?records_per_page=10&page=4")
      assert.deepStrictEqual(page1.body.pagination, {
        current_page: 1,
        per_page: 10,
        total_entries: 23,
        total_pages: 3
      })
      assert.strictEqual(page1.body.users.length, 10)
      assert.strictEqual(page3.body.users.length, 3)
      assert.strictEqual(page4.body.users.length, 0)
      assert.strictEqual(page1.body.users[0].id, "user-0")
      assert.strictEqual(page3.body.users[2].id, "user-22")
      assert.deepStrictEqual((yield* get("/users?id=user-7")).body.users.map((u: any) => u.email), ["u7@example.com"])
    })))

  it.effect("users: create, read, update, list, delete (with their members); duplicate ids -> 409", () =>
    provide(Effect.gen(function*() {
      const created = yield* post("/users", { user: { id: "partner-1", email: "a@example.com", metadata: "{}" } })
      assert.deepInclude(created.body.user, { id: "partner-1", email: "a@example.com", is_disabled: false })
      const guid = created.body.user.guid
      assert.match(guid, /^USR-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assertError(yield* post("/users", { user: { id: "partner-1" } }), 409)
      const updated = yield* put(`/users/${guid}`, { user: { is_disabled: true } })
      assert.isTrue(updated.body.user.is_disabled)
      assert.strictEqual((yield* get(`/users/${guid}`)).body.user.id, "partner-1")
      const member = yield* post(`/users/${guid}/members`, {
        member: {
          institution_code: "mxbank",
          credentials: (yield* get("/institutions/mxbank/credentials")).body.credentials.map((c: any) => ({
            guid: c.guid,
            value: c.field_name === "LOGIN" ? "mxuser" : "password"
          }))
        }
      })
      assert.strictEqual(member.status, 202)
      assert.strictEqual((yield* del(`/users/${guid}`)).status, 204)
      assertError(yield* get(`/users/${guid}`), 404)
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual((yield* sandbox.memberGuids).length, 0)
      assert.strictEqual((yield* sandbox.stats).deletes.users, 1)
    })))

  it.effect("institutions: mxbank and an OAuth institution, with their credentials", () =>
    provide(Effect.gen(function*() {
      const all = (yield* get("/institutions")).body.institutions
      assert.deepStrictEqual(all.map((i: any) => [i.code, i.supports_oauth]), [["mxbank", false], [
        "mxbank_oauth",
        true
      ]])
      assert.deepStrictEqual((yield* get("/institutions?name=oauth")).body.institutions.map((i: any) => i.code), [
        "mxbank_oauth"
      ])
      assert.strictEqual((yield* get("/institutions/mxbank")).body.institution.name, "MX Bank")
      const credentials = (yield* get("/institutions/mxbank/credentials")).body.credentials
      assert.deepStrictEqual(credentials.map((c: any) => c.field_name), ["LOGIN", "PASSWORD"])
      assert.deepStrictEqual((yield* get("/institutions/mxbank_oauth/credentials")).body.credentials, [])
    })))

  it.effect("members: list (with use_case), read, update id and metadata; ids are unique per user", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password", { id: "m-1", use_cases: ["MONEY_MOVEMENT"] })
      yield* TestClock.adjust("1 minute")
      const listed = yield* get(`/users/${userGuid}/members`)
      assert.deepStrictEqual(listed.body.members.map((m: any) => m.guid), [memberGuid])
      assert.strictEqual((yield* get(`/users/${userGuid}/members?use_case=PFM`)).body.members.length, 0)
      assert.strictEqual((yield* get(`/users/${userGuid}/members?use_case=MONEY_MOVEMENT`)).body.members.length, 1)
      const read = (yield* get(`/users/${userGuid}/members/${memberGuid}`)).body.member
      assert.deepInclude(read, {
        id: "m-1",
        institution_code: "mxbank",
        name: "MX Bank",
        user_id: "user-1",
        connection_status: "CONNECTED",
        connection_status_message: "Connected to MX Bank."
      })
      const renamed = yield* put(`/users/${userGuid}/members/${memberGuid}`, { member: { id: "m-2", metadata: "x" } })
      assert.deepInclude(renamed.body.member, { id: "m-2", metadata: "x", is_being_aggregated: false })
      const second = yield* post(`/users/${userGuid}/members`, {
        member: {
          institution_code: "mxbank",
          id: "m-2",
          credentials: (yield* get("/institutions/mxbank/credentials")).body.credentials.map((c: any) => ({
            guid: c.guid,
            value: c.field_name === "LOGIN" ? "mxuser" : "another"
          }))
        }
      })
      assertError(second, 409)
    })))
})
