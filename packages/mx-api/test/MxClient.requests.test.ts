import { assert, describe, it } from "@effect/vitest"
import { ConnectionStatus, Member } from "@mx-aggregation/domain"
import { Effect, Redacted, Stream } from "effect"
import type * as MxClient from "../src/MxClient.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake
const memberPath = `/users/${userGuid}/members/${memberGuid}`
const credentialGuid = Member.CredentialGuid.make("CRD-username")
const passwordGuid = Member.CredentialGuid.make("CRD-password")

/** Checks what every request must carry: auth, the v20111101 media type and version, and no stray body. */
const assertMxHeaders = (request: Fake.Recorded, withBody: boolean) => {
  assert.strictEqual(request.headers["authorization"], Fake.expectedAuthorization)
  assert.strictEqual(request.headers["accept"], "application/vnd.mx.api.v1+json")
  assert.strictEqual(request.headers["accept-version"], "v20111101")
  assert.strictEqual(request.url.origin, "https://mx.test")
  if (withBody) assert.strictEqual(request.headers["content-type"], "application/json")
  else assert.strictEqual(request.bodyText, undefined)
}

const query = (request: Fake.Recorded) => Object.fromEntries(request.url.searchParams)

/** Runs `use` against a fake answering `reply` to everything, and returns the one request it made. */
const oneRequest = <A>(
  reply: Fake.Reply,
  use: (mx: MxClient.Service) => Effect.Effect<A, unknown>
) =>
  Effect.gen(function*() {
    const fake = Fake.make(() => reply)
    const result = yield* use(yield* Fake.client(fake))
    assert.strictEqual(fake.requests.length, 1)
    return { request: fake.requests[0]!, result }
  })

describe("MxClient requests", () => {
  it.effect("createUser: POST /users with the user wrapper", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 200, body: { user: { guid: userGuid, id: "partner-1", email: null, is_disabled: false } } },
        (mx) => mx.createUser({ id: "partner-1", email: "a@b.test" })
      )
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url.pathname, "/users")
      assertMxHeaders(request, true)
      assert.deepStrictEqual(request.body, { user: { id: "partner-1", email: "a@b.test" } })
      assert.strictEqual(result.guid, userGuid)
      assert.strictEqual(result.email, null)
    }))

  it.effect("createUser without fields sends is_disabled false, never an empty user (MX refuses {\"user\":{}})", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest(
        { status: 200, body: { user: { guid: userGuid } } },
        (mx) => mx.createUser()
      )
      assert.deepStrictEqual(request.body, { user: { is_disabled: false } })
      const { request: empty } = yield* oneRequest(
        { status: 200, body: { user: { guid: userGuid } } },
        (mx) => mx.createUser({})
      )
      assert.deepStrictEqual(empty.body, { user: { is_disabled: false } })
    }))

  it.effect("createUser sends only the fields given, is_disabled included when given", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest(
        { status: 200, body: { user: { guid: userGuid } } },
        (mx) => mx.createUser({ isDisabled: true })
      )
      assert.deepStrictEqual(request.body, { user: { is_disabled: true } })
    }))

  it.effect("readUser: GET /users/{user_guid}", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 200, body: { user: { guid: userGuid, id: "partner-1" } } },
        (mx) => mx.readUser({ userGuid })
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `/users/${userGuid}`)
      assertMxHeaders(request, false)
      assert.strictEqual(result.id, "partner-1")
    }))

  it.effect("listUsers: GET /users with page and records_per_page", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 200, body: Fake.pageBody("users", [{ guid: userGuid }], 1, 1) },
        (mx) => Stream.runCollect(mx.listUsers({ recordsPerPage: 50 }))
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, "/users")
      assert.deepStrictEqual(query(request), { page: "1", records_per_page: "50" })
      assertMxHeaders(request, false)
      assert.deepStrictEqual(Array.from(result, (u) => u.guid), [userGuid])
    }))

  it.effect("deleteUser: DELETE /users/{user_guid}, 204", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest({ status: 204 }, (mx) => mx.deleteUser({ userGuid }))
      assert.strictEqual(request.method, "DELETE")
      assert.strictEqual(request.url.pathname, `/users/${userGuid}`)
      assertMxHeaders(request, false)
    }))

  it.effect("createMember: POST with the member wrapper, revealed credentials and skip_aggregation", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 202, body: Fake.memberBody({ connection_status: "CREATED", is_being_aggregated: true }) },
        (mx) =>
          mx.createMember({
            userGuid,
            institutionCode: Member.InstitutionCode.make("mxbank"),
            credentials: [
              Member.CredentialValue.make({ guid: credentialGuid, value: Redacted.make("mxuser") }),
              Member.CredentialValue.make({ guid: passwordGuid, value: Redacted.make("password") })
            ],
            skipAggregation: true,
            id: "partner-member-1"
          })
      )
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url.pathname, `/users/${userGuid}/members`)
      assertMxHeaders(request, true)
      assert.deepStrictEqual(request.body, {
        member: {
          institution_code: "mxbank",
          credentials: [{ guid: credentialGuid, value: "mxuser" }, { guid: passwordGuid, value: "password" }],
          skip_aggregation: true,
          id: "partner-member-1"
        }
      })
      assert.strictEqual(result.connection_status, "CREATED")
      assert.isTrue(result.is_being_aggregated)
    }))

  it.effect("createMember without skipAggregation leaves the flag out (MX's default: aggregate)", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest(
        { status: 200, body: Fake.memberBody() },
        (mx) =>
          mx.createMember({
            userGuid,
            institutionCode: Member.InstitutionCode.make("mxbank"),
            credentials: [Member.CredentialValue.make({ guid: credentialGuid, value: Redacted.make("mxuser") })]
          })
      )
      const member = (request.body as { member: Record<string, unknown> }).member
      assert.isFalse("skip_aggregation" in member)
    }))

  it.effect("readMember: GET /users/{user_guid}/members/{member_guid}", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 200, body: Fake.memberBody() },
        (mx) => mx.readMember({ userGuid, memberGuid })
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, memberPath)
      assertMxHeaders(request, false)
      assert.strictEqual(result.guid, memberGuid)
      assert.strictEqual(result.connection_status, "CONNECTED")
    }))

  it.effect("updateMember: PUT with new credentials and skip_aggregation", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 200, body: Fake.memberBody({ connection_status: "UPDATED" }) },
        (mx) =>
          mx.updateMember({
            userGuid,
            memberGuid,
            credentials: [Member.CredentialValue.make({ guid: passwordGuid, value: Redacted.make("new-password") })],
            skipAggregation: false,
            metadata: "m"
          })
      )
      assert.strictEqual(request.method, "PUT")
      assert.strictEqual(request.url.pathname, memberPath)
      assertMxHeaders(request, true)
      assert.deepStrictEqual(request.body, {
        member: { credentials: [{ guid: passwordGuid, value: "new-password" }], skip_aggregation: false, metadata: "m" }
      })
      assert.strictEqual(result.connection_status, "UPDATED")
    }))

  it.effect("updateMember without credentials sends no credentials key", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest(
        { status: 200, body: Fake.memberBody() },
        (mx) => mx.updateMember({ userGuid, memberGuid, id: "new-id" })
      )
      assert.deepStrictEqual(request.body, { member: { id: "new-id" } })
    }))

  it.effect("deleteMember: DELETE, 204 with no body", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest({ status: 204 }, (mx) => mx.deleteMember({ userGuid, memberGuid }))
      assert.strictEqual(request.method, "DELETE")
      assert.strictEqual(request.url.pathname, memberPath)
      assertMxHeaders(request, false)
    }))

  it.effect("listMembers: GET /users/{user_guid}/members, decoded", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 200, body: Fake.pageBody("members", [Fake.memberBody().member], 1, 1) },
        (mx) => Stream.runCollect(mx.listMembers({ userGuid }))
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `/users/${userGuid}/members`)
      assert.deepStrictEqual(query(request), { page: "1", records_per_page: "1000" })
      assertMxHeaders(request, false)
      assert.deepStrictEqual(Array.from(result, (m) => m.guid), [memberGuid])
    }))

  it.effect("aggregateMember: POST …/aggregate, 202 is success", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 202, body: Fake.memberBody({ is_being_aggregated: true }) },
        (mx) => mx.aggregateMember({ userGuid, memberGuid })
      )
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url.pathname, `${memberPath}/aggregate`)
      assert.deepStrictEqual(query(request), {})
      assert.strictEqual(request.headers["authorization"], Fake.expectedAuthorization)
      assert.strictEqual(request.headers["accept"], "application/vnd.mx.api.v1+json")
      assert.strictEqual(request.headers["accept-version"], "v20111101")
      assert.strictEqual(request.bodyText, undefined)
      assert.isTrue(result.is_being_aggregated)
    }))

  it.effect("aggregateMember passes include_transactions and include_holdings", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest(
        { status: 202, body: Fake.memberBody() },
        (mx) => mx.aggregateMember({ userGuid, memberGuid, includeHoldings: false, includeTransactions: true })
      )
      assert.deepStrictEqual(query(request), { include_holdings: "false", include_transactions: "true" })
    }))

  it.effect("readMemberStatus: GET …/status, challenges decoded (numeric type)", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        {
          status: 200,
          body: {
            member: {
              guid: memberGuid,
              connection_status: "CHALLENGED",
              is_being_aggregated: true,
              is_authenticated: null,
              challenges: [{ guid: "CRD-q1", type: 0, label: "What city?" }]
            }
          }
        },
        (mx) => mx.readMemberStatus({ userGuid, memberGuid })
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `${memberPath}/status`)
      assertMxHeaders(request, false)
      assert.strictEqual(result.connection_status, "CHALLENGED")
      assert.isFalse(result.is_authenticated)
      assert.strictEqual(result.challenges[0]!.type, "TEXT")
    }))

  it.effect("listMemberChallenges: GET …/challenges, decoded", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        {
          status: 200,
          body: Fake.pageBody(
            "challenges",
            [{
              guid: "CRD-q1",
              type: "OPTIONS",
              label: "Pick one",
              options: [{ label: "A", value: "a" }, { guid: "CRO-b", label: "B", value: "b" }]
            }],
            1,
            1
          )
        },
        (mx) => mx.listMemberChallenges({ userGuid, memberGuid })
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `${memberPath}/challenges`)
      assert.deepStrictEqual(query(request), { page: "1", records_per_page: "1000" })
      assertMxHeaders(request, false)
      assert.strictEqual(result.length, 1)
      assert.strictEqual(result[0]!.type, "OPTIONS")
      assert.deepStrictEqual(result[0]!.options.map((o) => o.value), ["a", "b"])
    }))

  it.effect("listMemberChallenges: 204 (member not CHALLENGED) is an empty list", () =>
    Effect.gen(function*() {
      const { result } = yield* oneRequest({ status: 204 }, (mx) => mx.listMemberChallenges({ userGuid, memberGuid }))
      assert.deepStrictEqual(result, [])
    }))

  it.effect("resumeAggregation: PUT …/resume with the answers under member.challenges, 202", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        { status: 202, body: Fake.memberBody({ connection_status: "RESUMED", is_being_aggregated: true }) },
        (mx) =>
          mx.resumeAggregation({
            userGuid,
            memberGuid,
            answers: [Member.CredentialValue.make({
              guid: Member.CredentialGuid.make("CRD-q1"),
              value: Redacted.make("correct")
            })]
          })
      )
      assert.strictEqual(request.method, "PUT")
      assert.strictEqual(request.url.pathname, `${memberPath}/resume`)
      assertMxHeaders(request, true)
      assert.deepStrictEqual(request.body, { member: { challenges: [{ guid: "CRD-q1", value: "correct" }] } })
      assert.strictEqual(result.connection_status, "RESUMED")
    }))

  it.effect("listMemberCredentials: GET …/members/{member_guid}/credentials", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        {
          status: 200,
          body: Fake.pageBody(
            "credentials",
            [{ guid: passwordGuid, field_name: "LOGIN_PASSWORD", display_order: 2 }],
            1,
            1
          )
        },
        (mx) => Stream.runCollect(mx.listMemberCredentials({ userGuid, memberGuid, recordsPerPage: 10 }))
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `${memberPath}/credentials`)
      assert.deepStrictEqual(query(request), { page: "1", records_per_page: "10" })
      assertMxHeaders(request, false)
      assert.deepStrictEqual(Array.from(result, (c) => c.guid), [passwordGuid])
    }))

  it.effect("listInstitutionCredentials: GET /institutions/{institution_code}/credentials", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        {
          status: 200,
          body: Fake.pageBody(
            "credentials",
            [
              { guid: credentialGuid, field_name: "LOGIN", label: "Username", type: "LOGIN", display_order: 1 },
              { guid: passwordGuid, field_name: "PASSWORD", label: "Password", type: "PASSWORD", display_order: 2 }
            ],
            1,
            1
          )
        },
        (mx) =>
          Stream.runCollect(
            mx.listInstitutionCredentials({ institutionCode: Member.InstitutionCode.make("mxbank") })
          )
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, "/institutions/mxbank/credentials")
      assert.deepStrictEqual(query(request), { page: "1", records_per_page: "1000" })
      assertMxHeaders(request, false)
      assert.deepStrictEqual(Array.from(result, (c) => c.label), ["Username", "Password"])
    }))

  it.effect("listMemberAccounts: GET …/accounts", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        {
          status: 200,
          body: Fake.pageBody(
            "accounts",
            [{
              guid: "ACT-1",
              member_guid: memberGuid,
              name: "Checking",
              balance: 1000.5,
              type: "CHECKING",
              some_field_we_do_not_know: { nested: true }
            }],
            1,
            1
          )
        },
        (mx) => Stream.runCollect(mx.listMemberAccounts({ userGuid, memberGuid }))
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `${memberPath}/accounts`)
      assert.deepStrictEqual(query(request), { page: "1", records_per_page: "1000" })
      assertMxHeaders(request, false)
      const [account] = Array.from(result)
      assert.strictEqual(account!.guid, "ACT-1")
      assert.strictEqual(account!.balance, 1000.5)
    }))

  it.effect("listTransactionsByMember: GET …/transactions with from_date, to_date, from_updated_at", () =>
    Effect.gen(function*() {
      const { request, result } = yield* oneRequest(
        {
          status: 200,
          body: Fake.pageBody(
            "transactions",
            [{ guid: "TRN-1", amount: -12.5, date: "2024-01-02", is_recurring: null }],
            1,
            1
          )
        },
        (mx) =>
          Stream.runCollect(
            mx.listTransactionsByMember({
              userGuid,
              memberGuid,
              fromDate: "2024-01-01",
              toDate: "2024-03-31",
              fromUpdatedAt: "2024-02-01",
              recordsPerPage: 500
            })
          )
      )
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.url.pathname, `${memberPath}/transactions`)
      assert.deepStrictEqual(query(request), {
        from_date: "2024-01-01",
        to_date: "2024-03-31",
        from_updated_at: "2024-02-01",
        page: "1",
        records_per_page: "500"
      })
      assertMxHeaders(request, false)
      const [transaction] = Array.from(result)
      assert.strictEqual(transaction!.amount, -12.5)
      assert.strictEqual(transaction!.is_recurring, null)
    }))

  it.effect("records_per_page is clamped to MX's range 10..1000", () =>
    Effect.gen(function*() {
      const low = yield* oneRequest(
        { status: 200, body: Fake.pageBody("members", [], 1, 1) },
        (mx) => Stream.runCollect(mx.listMembers({ userGuid, recordsPerPage: 3 }))
      )
      const high = yield* oneRequest(
        { status: 200, body: Fake.pageBody("members", [], 1, 1) },
        (mx) => Stream.runCollect(mx.listMembers({ userGuid, recordsPerPage: 5000 }))
      )
      assert.strictEqual(query(low.request).records_per_page, "10")
      assert.strictEqual(query(high.request).records_per_page, "1000")
    }))

  it.effect("path segments are URL-encoded", () =>
    Effect.gen(function*() {
      const { request } = yield* oneRequest(
        { status: 200, body: Fake.memberBody() },
        (mx) => mx.readMember({ userGuid: Member.UserGuid.make("USR-a/b"), memberGuid })
      )
      assert.strictEqual(request.url.pathname, `/users/USR-a%2Fb/members/${memberGuid}`)
    }))

  it.effect("tolerates what MX really sends: nulls, string job guid, unknown fields and statuses", () =>
    Effect.gen(function*() {
      const { result } = yield* oneRequest(
        {
          status: 200,
          body: Fake.memberBody({
            connection_status: null,
            is_being_aggregated: null,
            most_recent_job_guid: "JOB-123",
            most_recent_job_detail_text: "detail",
            error: {},
            a_new_field: [1, 2, 3]
          })
        },
        (mx) => mx.readMember({ userGuid, memberGuid })
      )
      assert.strictEqual(result.connection_status, null)
      // MX not saying whether it aggregates is unknown (null), never read as false.
      assert.isNull(result.is_being_aggregated)
      assert.strictEqual(result.most_recent_job_guid, "JOB-123")

      const unknown = yield* oneRequest(
        { status: 200, body: Fake.memberBody({ connection_status: "SMILING" }) },
        (mx) => mx.readMember({ userGuid, memberGuid })
      )
      assert.strictEqual(unknown.result.connection_status, "SMILING")
      assert.strictEqual(ConnectionStatus.classify(unknown.result.connection_status), "Unknown")
    }))
})
