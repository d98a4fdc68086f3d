import { afterAll, assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Effect, Option, Schema, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import {
  createMember,
  createUser,
  del,
  get,
  makeRecorder,
  mxbankCredentials,
  post,
  put,
  sandboxLayer,
  status,
  userWithMember
} from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

const provide = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox>) => Effect.provide(effect, sandboxLayer(recorder))

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

/** Answers the current challenges (all with one value) and returns the resume answer. */
const answer = (userGuid: string, memberGuid: string, value: (challenge: any) => string) =>
  Effect.gen(function*() {
    const listed = yield* get(`/users/${userGuid}/members/${memberGuid}/challenges`)
    assert.strictEqual(listed.status, 200)
    return yield* put(`/users/${userGuid}/members/${memberGuid}/resume`, {
      member: { challenges: listed.body.challenges.map((c: any) => ({ guid: c.guid, value: value(c) })) }
    })
  })

describe("aggregation lifecycle", () => {
  it.effect("a new member walks CREATED -> CONNECTED while aggregating -> CONNECTED done, in MX time", () =>
    provide(Effect.gen(function*() {
      const { created, memberGuid, userGuid } = yield* userWithMember("password")
      assert.strictEqual(created.status, 202)
      assert.strictEqual(created.body.member.connection_status, "CREATED")
      assert.isTrue(created.body.member.is_being_aggregated)

      const first = yield* status(userGuid, memberGuid)
      assert.deepInclude(first, { connection_status: "CREATED", is_being_aggregated: true, is_authenticated: false })

      yield* TestClock.adjust("10 seconds")
      const authenticated = yield* status(userGuid, memberGuid)
      assert.deepInclude(authenticated, {
        connection_status: "CONNECTED",
        is_being_aggregated: true,
        is_authenticated: true,
        has_processed_accounts: false
      })

      yield* TestClock.adjust("10 seconds")
      assert.isTrue((yield* status(userGuid, memberGuid)).has_processed_accounts)

      yield* TestClock.adjust("10 seconds")
      const done = yield* status(userGuid, memberGuid)
      assert.deepInclude(done, {
        connection_status: "CONNECTED",
        is_being_aggregated: false,
        has_processed_transactions: true,
        aggregated_at: "2025-03-01T12:00:00Z",
        successfully_aggregated_at: "2025-03-01T12:00:30Z"
      })
      const accounts = yield* get(`/users/${userGuid}/members/${memberGuid}/accounts`)
      assert.isAtLeast(accounts.body.accounts.length, 2)
    })))

  it.effect("aggregate while aggregating: 202 without a second aggregation; counted as redundant after a create", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      const again = yield* post(`/users/${userGuid}/members/${memberGuid}/aggregate`)
      assert.strictEqual(again.status, 202)
      assert.isTrue(again.body.member.is_being_aggregated)
      const counted = yield* stats
      assert.strictEqual(counted.aggregationsStarted, 1)
      assert.strictEqual(counted.aggregatesWhileRunning, 1)
      assert.strictEqual(counted.aggregatesAfterAutomatic, 1)
    })))

  it.effect("aggregate on a CONNECTED member keeps CONNECTED with is_being_aggregated true, then finishes", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      yield* TestClock.adjust("1 minute")
      const started = yield* post(`/users/${userGuid}/members/${memberGuid}/aggregate`)
      assert.strictEqual(started.status, 202)
      assert.deepInclude(started.body.member, { connection_status: "CONNECTED", is_being_aggregated: true })
      assert.isFalse((yield* status(userGuid, memberGuid)).is_authenticated)
      yield* TestClock.adjust("30 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "CONNECTED",
        is_being_aggregated: false
      })
      const counted = yield* stats
      assert.strictEqual(counted.aggregationsStarted, 2)
      assert.deepStrictEqual(counted.aggregationsByOrigin, { create: 1, aggregate: 1 })
      assert.strictEqual(counted.aggregatesAfterAutomatic, 0)
    })))

  it.effect("a different job type while one runs answers 409, both ways", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      const verify = yield* post(`/users/${userGuid}/members/${memberGuid}/verify`)
      assert.strictEqual(verify.status, 409)
      assert.isString(verify.body.error.message)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* post(`/users/${userGuid}/members/${memberGuid}/identify`)).status, 202)
      assert.strictEqual((yield* post(`/users/${userGuid}/members/${memberGuid}/aggregate`)).status, 409)
      assert.strictEqual((yield* post(`/users/${userGuid}/members/${memberGuid}/identify`)).status, 202)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* post(`/users/${userGuid}/members/${memberGuid}/aggregate`)).status, 202)
      assert.strictEqual((yield* stats).jobConflicts, 2)
    })))

  it.effect("resume when not CHALLENGED answers 405; challenges when not CHALLENGED answer 204", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      const challenges = yield* get(`/users/${userGuid}/members/${memberGuid}/challenges`)
      assert.strictEqual(challenges.status, 204)
      assert.strictEqual(challenges.text, "")
      const resumed = yield* put(`/users/${userGuid}/members/${memberGuid}/resume`, {
        member: { challenges: [{ guid: "CRD-x", value: "correct" }] }
      })
      assert.strictEqual(resumed.status, 405)
      assert.include(resumed.body.error.message, "not CHALLENGED")
      assert.strictEqual((yield* stats).resumesOutsideChallenged, 1)
    })))

  it.effect("challenge: CHALLENGED (still aggregating, challenges in status) -> resume correct -> RESUMED -> CONNECTED", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("challenge")
      yield* TestClock.adjust("10 seconds")
      const challenged = yield* status(userGuid, memberGuid)
      assert.deepInclude(challenged, { connection_status: "CHALLENGED", is_being_aggregated: true })
      assert.strictEqual(challenged.challenges.length, 1)
      assert.strictEqual(challenged.challenges[0].type, "TEXT")
      const resumed = yield* answer(userGuid, memberGuid, () => "correct")
      assert.strictEqual(resumed.status, 202)
      assert.deepInclude(resumed.body.member, { connection_status: "RESUMED", is_being_aggregated: true })
      assert.strictEqual((yield* get(`/users/${userGuid}/members/${memberGuid}/challenges`)).status, 204)
      yield* TestClock.adjust("10 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "CONNECTED",
        is_being_aggregated: true
      })
      yield* TestClock.adjust("20 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "CONNECTED",
        is_being_aggregated: false
      })
    })))

  it.effect("a wrong MFA answer ends REJECTED", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("challenge")
      yield* TestClock.adjust("10 seconds")
      yield* answer(userGuid, memberGuid, () => "wrong")
      yield* TestClock.adjust("10 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "REJECTED",
        is_being_aggregated: false
      })
    })))

  it.effect("two-round MFA: answer `challenge` -> CHALLENGED again with a new question -> `correct` -> CONNECTED", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("challenge")
      yield* TestClock.adjust("10 seconds")
      const round1 = (yield* status(userGuid, memberGuid)).challenges[0]
      yield* answer(userGuid, memberGuid, () => "challenge")
      yield* TestClock.adjust("10 seconds")
      const second = yield* status(userGuid, memberGuid)
      assert.strictEqual(second.connection_status, "CHALLENGED")
      assert.notStrictEqual(second.challenges[0].guid, round1.guid)
      assert.notStrictEqual(second.challenges[0].label, round1.label)
      yield* answer(userGuid, memberGuid, () => "correct")
      yield* TestClock.adjust("30 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "CONNECTED",
        is_being_aggregated: false
      })
    })))

  it.effect("OPTIONS challenges accept the option's guid; IMAGE_DATA challenges carry image data", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser()
      const options = (yield* createMember(userGuid, "options")).body.member.guid
      const image = (yield* createMember(userGuid, "image")).body.member.guid
      yield* TestClock.adjust("10 seconds")
      const listed = yield* get(`/users/${userGuid}/members/${options}/challenges`)
      const challenge = listed.body.challenges[0]
      assert.strictEqual(challenge.type, "OPTIONS")
      const correct = challenge.options.find((o: any) => o.value === "correct")
      assert.match(correct.guid, /^CRO-/)
      const imageChallenge = (yield* status(userGuid, image)).challenges[0]
      assert.strictEqual(imageChallenge.type, "IMAGE_DATA")
      assert.match(imageChallenge.image_data, /^data:image\/png;base64,/)
      yield* answer(userGuid, options, () => correct.guid)
      yield* answer(userGuid, image, () => "correct")
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* status(userGuid, options)).connection_status, "CONNECTED")
      assert.strictEqual((yield* status(userGuid, image)).connection_status, "CONNECTED")
    })))

  it.effect("a resume must answer every current challenge with known guids (400 otherwise)", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("challenge")
      yield* TestClock.adjust("10 seconds")
      const path = `/users/${userGuid}/members/${memberGuid}/resume`
      const unknown = yield* put(path, { member: { challenges: [{ guid: "CRD-unknown", value: "correct" }] } })
      assert.strictEqual(unknown.status, 400)
      const none = yield* put(path, { member: { challenges: [] } })
      assert.strictEqual(none.status, 400)
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "CHALLENGED")
    })))

  it.effect("an unanswered challenge becomes EXPIRED after the MFA timeout", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("challenge")
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "CHALLENGED")
      yield* TestClock.adjust("1 minute")
      const expired = yield* status(userGuid, memberGuid)
      assert.deepInclude(expired, { connection_status: "EXPIRED", is_being_aggregated: false, challenges: [] })
      const late = yield* put(`/users/${userGuid}/members/${memberGuid}/resume`, {
        member: { challenges: [{ guid: "CRD-x", value: "correct" }] }
      })
      assert.strictEqual(late.status, 405)
    })))

  it.effect("three DENIED in a row -> PREVENTED; aggregating again stays PREVENTED until the credentials change", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("UNAUTHORIZED")
      const aggregate = post(`/users/${userGuid}/members/${memberGuid}/aggregate`)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "DENIED")
      yield* aggregate
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "DENIED")
      yield* aggregate
      yield* TestClock.adjust("10 seconds")
      const prevented = (yield* get(`/users/${userGuid}/members/${memberGuid}`)).body.member
      assert.deepInclude(prevented, { connection_status: "PREVENTED", needs_updated_credentials: true })
      yield* aggregate
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "PREVENTED")
      const credentials = (yield* get(`/users/${userGuid}/members/${memberGuid}/credentials`)).body.credentials
      yield* put(`/users/${userGuid}/members/${memberGuid}`, {
        member: {
          credentials: credentials.map((c: any) => ({
            guid: c.guid,
            value: c.field_name === "LOGIN" ? "mxuser" : "good"
          }))
        }
      })
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "CONNECTED")
    })))

  it.effect("DENIED -> update credentials with the member's credential guids -> UPDATED -> CONNECTED without aggregate", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("UNAUTHORIZED")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "DENIED")
      const credentials = (yield* get(`/users/${userGuid}/members/${memberGuid}/credentials`)).body.credentials
      assert.strictEqual(credentials.length, 2)
      // The member's credential guids are its own, not the institution's.
      const institutionGuids = mxbankCredentials("x").map((c) => c.guid)
      for (const credential of credentials) assert.notInclude(institutionGuids, credential.guid)
      const withInstitutionGuids = yield* put(`/users/${userGuid}/members/${memberGuid}`, {
        member: { credentials: mxbankCredentials("good") }
      })
      assert.strictEqual(withInstitutionGuids.status, 400)
      const password = credentials.find((c: any) => c.field_name === "PASSWORD")
      const updated = yield* put(`/users/${userGuid}/members/${memberGuid}`, {
        member: { credentials: [{ guid: password.guid, value: "good-password" }] }
      })
      assert.strictEqual(updated.status, 200)
      assert.deepInclude(updated.body.member, { connection_status: "UPDATED", is_being_aggregated: true })
      yield* TestClock.adjust("30 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "CONNECTED",
        is_being_aggregated: false
      })
      const counted = yield* stats
      assert.deepStrictEqual(counted.aggregationsByOrigin, { create: 1, credentials: 1 })
      assert.strictEqual(counted.byOperation["aggregateMember"], undefined)
    })))

  it.effect("skip_aggregation: create and credential update do not aggregate; an update without credentials never does", () =>
    provide(Effect.gen(function*() {
      const { created, memberGuid, userGuid } = yield* userWithMember("password", { skip_aggregation: true })
      assert.strictEqual(created.status, 200)
      assert.deepInclude(created.body.member, { connection_status: "CREATED", is_being_aggregated: false })
      const path = `/users/${userGuid}/members/${memberGuid}`
      const metadata = yield* put(path, { member: { metadata: "{\"note\":1}" } })
      assert.strictEqual(metadata.status, 200)
      assert.deepInclude(metadata.body.member, { metadata: "{\"note\":1}", is_being_aggregated: false })
      const credentials = (yield* get(`${path}/credentials`)).body.credentials
      const skipped = yield* put(path, {
        member: { credentials: [{ guid: credentials[1].guid, value: "other" }], skip_aggregation: true }
      })
      assert.isFalse(skipped.body.member.is_being_aggregated)
      assert.strictEqual((yield* stats).aggregationsStarted, 0)
      const started = yield* post(`${path}/aggregate`)
      assert.strictEqual(started.status, 202)
      assert.isTrue(started.body.member.is_being_aggregated)
      assert.strictEqual((yield* stats).aggregationsStarted, 1)
    })))

  it.effect("a member with the same credentials as another of the same user and institution is refused (409)", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser()
      const first = yield* createMember(userGuid, "same")
      assert.strictEqual(first.status, 202)
      const duplicate = yield* createMember(userGuid, "same")
      assert.strictEqual(duplicate.status, 409)
      assert.include(duplicate.body.error.message, "already exists")
      const other = yield* createMember(userGuid, "different")
      assert.strictEqual(other.status, 202)
      // An update that would make two members identical is refused too.
      const path = `/users/${userGuid}/members/${other.body.member.guid}`
      const credentials = (yield* get(`${path}/credentials`)).body.credentials
      const clash = yield* put(path, {
        member: { credentials: [{ guid: credentials[1].guid, value: "same" }] }
      })
      assert.strictEqual(clash.status, 409)
      // Another user may use the same credentials.
      const otherUser = (yield* post("/users", { user: { id: "user-2" } })).body.user.guid
      assert.strictEqual((yield* createMember(otherUser, "same")).status, 202)
    })))

  it.effect("deleting a member deletes its accounts and transactions", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser()
      const kept = (yield* createMember(userGuid, "keep")).body.member.guid
      const gone = (yield* createMember(userGuid, "gone")).body.member.guid
      yield* TestClock.adjust("1 minute")
      const before = yield* get(`/users/${userGuid}/transactions?records_per_page=1000`)
      assert.isTrue(before.body.transactions.some((t: any) => t.member_guid === gone))
      const deleted = yield* del(`/users/${userGuid}/members/${gone}`)
      assert.strictEqual(deleted.status, 204)
      assert.strictEqual((yield* get(`/users/${userGuid}/members/${gone}`)).status, 404)
      assert.strictEqual((yield* get(`/users/${userGuid}/members/${gone}/transactions`)).status, 404)
      const accounts = (yield* get(`/users/${userGuid}/accounts`)).body.accounts
      assert.isTrue(accounts.length > 0 && accounts.every((a: any) => a.member_guid === kept))
      const after = (yield* get(`/users/${userGuid}/transactions?records_per_page=1000`)).body.transactions
      assert.isTrue(after.length > 0 && after.every((t: any) => t.member_guid === kept))
      const sandbox = yield* Sandbox.Sandbox
      assert.isTrue(Option.isNone(yield* sandbox.member(gone)))
      assert.strictEqual((yield* stats).deletes.members, 1)
    })))

  it.effect("DELAYED stays DELAYED (aggregating) for delayedDuration, then CONNECTED", () =>
    provide(Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("DELAYED")
      yield* TestClock.adjust("10 seconds")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "DELAYED",
        is_being_aggregated: true
      })
      yield* TestClock.adjust("29 minutes")
      assert.strictEqual((yield* status(userGuid, memberGuid)).connection_status, "DELAYED")
      yield* TestClock.adjust("2 minutes")
      assert.deepInclude(yield* status(userGuid, memberGuid), {
        connection_status: "CONNECTED",
        is_being_aggregated: false
      })
    })))

  it.effect("an OAuth member waits in PENDING with an oauth_window_uri, then aggregates once the window completes", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser()
      const refused = yield* post(`/users/${userGuid}/members`, { member: { institution_code: "mxbank_oauth" } })
      assert.strictEqual(refused.status, 400)
      const created = yield* post(`/users/${userGuid}/members`, {
        member: { institution_code: "mxbank_oauth", is_oauth: true }
      })
      assert.strictEqual(created.status, 200)
      const member = created.body.member
      assert.deepInclude(member, { connection_status: "PENDING", is_oauth: true, is_being_aggregated: false })
      assert.include(member.oauth_window_uri, `member_guid=${member.guid}`)
      const window = yield* get(`/users/${userGuid}/members/${member.guid}/oauth_window_uri`)
      assert.strictEqual(window.body.member.guid, member.guid)
      const noop = yield* post(`/users/${userGuid}/members/${member.guid}/aggregate`)
      assert.deepInclude(noop.body.member, { connection_status: "PENDING", is_being_aggregated: false })
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.completeOAuth(member.guid)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* status(userGuid, member.guid)).connection_status, "CONNECTED")
      // A real institution throttles: no new aggregation within 3 hours of a successful one.
      const throttled = yield* post(`/users/${userGuid}/members/${member.guid}/aggregate`)
      assert.strictEqual(throttled.status, 202)
      assert.isFalse(throttled.body.member.is_being_aggregated)
      assert.strictEqual((yield* stats).aggregatesThrottled, 1)
      yield* TestClock.adjust("3 hours")
      assert.isTrue(
        (yield* post(`/users/${userGuid}/members/${member.guid}/aggregate`)).body.member.is_being_aggregated
      )
    })))

  it.effect("the programmatic API creates users and members and reads a member's state", () =>
    provide(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* sandbox.createUser({ id: "seeded" })
      const member = yield* sandbox.createMember(user.guid, { password: "challenge" })
      yield* TestClock.adjust("10 seconds")
      const state = Option.getOrThrow(yield* sandbox.member(member.guid))
      assert.strictEqual(state.status.connection_status, "CHALLENGED")
      assert.strictEqual(state.job?.phase, "challenged")
      assert.strictEqual(state.job?.nextTransitionAt.toISOString(), "2025-03-01T12:05:10.000Z")
      const demo = yield* sandbox.seedDemo({ users: 2, membersPerUser: 2 })
      assert.strictEqual(demo.length, 2)
      assert.strictEqual((yield* sandbox.memberGuids).length, 5)
      const listed = yield* get(`/users/${demo[0]!.userGuid}/members`)
      assert.strictEqual(listed.body.members.length, 2)
    })))

  it.effect("responses decode with the domain's Member, MemberStatus, Challenge and Credential schemas", () =>
    provide(Effect.gen(function*() {
      const { created, memberGuid, userGuid } = yield* userWithMember("options")
      const member = Schema.decodeUnknownSync(Member.Member)(created.body.member)
      assert.strictEqual(member.connection_status, "CREATED")
      yield* TestClock.adjust("10 seconds")
      const decoded = Schema.decodeUnknownSync(Member.MemberStatus)(yield* status(userGuid, memberGuid))
      assert.strictEqual(decoded.connection_status, "CHALLENGED")
      assert.strictEqual(decoded.challenges[0]?.type, "OPTIONS")
      assert.deepStrictEqual(decoded.challenges[0]?.options.map((option) => option.value), [
        "correct",
        "incorrect",
        "challenge"
      ])
      const credentials = (yield* get(`/users/${userGuid}/members/${memberGuid}/credentials`)).body.credentials
      const fields = credentials.map((c: unknown) => Schema.decodeUnknownSync(Member.Credential)(c))
      assert.deepStrictEqual(fields.map((c: Member.Credential) => c.field_name), ["LOGIN", "PASSWORD"])
    })))

  it.effect("an OAuth window opened with outcome=denied leaves the member DENIED", () =>
    provide(Effect.gen(function*() {
      const userGuid = yield* createUser()
      const member = (yield* post(`/users/${userGuid}/members`, {
        member: { institution_code: "mxbank_oauth", is_oauth: true }
      })).body.member
      const window = new URL(member.oauth_window_uri)
      const opened = yield* get(`${window.pathname}${window.search}&outcome=denied`, { anonymous: true })
      assert.strictEqual(opened.status, 200)
      assert.deepInclude(yield* status(userGuid, member.guid), {
        connection_status: "DENIED",
        is_being_aggregated: false
      })
      const unknown = yield* get("/oauth/authorize?member_guid=MBR-nope", { anonymous: true })
      assert.strictEqual(unknown.status, 404)
    })))
})
