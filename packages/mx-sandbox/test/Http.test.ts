import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { call, createUser, del, get, makeRecorder, post, put, sandboxLayer, userWithMember } from "./harness.js"

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
