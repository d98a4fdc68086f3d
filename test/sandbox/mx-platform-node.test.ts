/**
 * MX's own Node SDK (`mx-platform-node@2.1.0`, generated from MX's spec) against the sandbox served
 * on 127.0.0.1: if MX's client works unchanged against it, the sandbox speaks MX's paths, methods,
 * bodies and status codes. Every response the sandbox sends here is also checked against the spec.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { afterAll, assert, layer } from "@effect/vitest"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import * as Conformance from "@mx-aggregation/mx-sandbox/Conformance"
import { Effect, Layer, Redacted } from "effect"
import {
  AccountsApi,
  Configuration,
  InstitutionsApi,
  MembersApi,
  type MemberStatusResponse,
  TransactionsApi,
  UsersApi
} from "mx-platform-node"
import { readFileSync } from "node:fs"

const validator = Conformance.make(
  readFileSync(new URL("../../vendor/mx-openapi/mx_platform_api.yml", import.meta.url), "utf8")
)
const violations: Array<string> = []
let exchanges = 0
afterAll(() => {
  assert.deepStrictEqual(violations, [])
  assert.isAbove(exchanges, 50)
})

/** The sandbox on a free port; MX time 1000x faster, so a 30 s aggregation takes 30 ms. */
const served = Sandbox.layerServer({
  timeScale: 1_000,
  mfaTimeout: "1 hour",
  background: { enabled: false },
  observe: (exchange) => {
    exchanges++
    violations.push(...validator.check(exchange))
  }
}).pipe(Layer.provideMerge(NodeHttpClient.layerUndici))

/** MX's SDK configured as MX's README says, with the sandbox as base path. */
const sdk = Effect.gen(function*() {
  const { url } = yield* Sandbox.SandboxServer
  const { apiKey, clientId } = (yield* Sandbox.Sandbox).credentials
  const configuration = new Configuration({
    username: clientId,
    password: Redacted.value(apiKey),
    basePath: url,
    baseOptions: { headers: { Accept: "application/vnd.mx.api.v1+json" } }
  })
  return {
    users: new UsersApi(configuration),
    members: new MembersApi(configuration),
    institutions: new InstitutionsApi(configuration),
    accounts: new AccountsApi(configuration),
    transactions: new TransactionsApi(configuration)
  }
})

type Sdk = Effect.Effect.Success<typeof sdk>

/** An SDK call that must fail: its HTTP status (axios rejects non-2xx). */
const failedStatus = (call: () => Promise<unknown>) =>
  Effect.tryPromise(call).pipe(
    Effect.flip,
    Effect.map((error: any) => error.cause?.response?.status as number)
  )

/** A user and an MX Bank member created with the SDK (credential guids from the institution). */
const userWithMember = (api: Sdk, password: string) =>
  Effect.promise(async () => {
    const user = (await api.users.createUser({ user: { id: `sdk-${password}-${Math.random()}` } })).data.user!
    const fields = (await api.institutions.listInstitutionCredentials("mxbank")).data.credentials!
    const created = await api.members.createMember(user.guid!, {
      member: {
        institution_code: "mxbank",
        credentials: fields.map((field) => ({
          guid: field.guid!,
          value: field.field_name === "LOGIN" ? "mxuser" : password
        }))
      }
    })
    return { userGuid: user.guid!, memberGuid: created.data.member!.guid!, created }
  })

/** Polls `readMemberStatus` (every 5 ms) until the aggregation settles or asks for MFA. */
const settle = (api: Sdk, userGuid: string, memberGuid: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000; i++) {
      const status: MemberStatusResponse = (yield* Effect.promise(() =>
        api.members.readMemberStatus(memberGuid, userGuid)
      )).data.member!
      if (status.connection_status === "CHALLENGED" || status.is_being_aggregated === false) return status
      yield* Effect.sleep("5 millis")
    }
    return yield* Effect.dieMessage("the aggregation never settled")
  })

/** Lists the challenges and answers each with `value`. */
const answer = (api: Sdk, userGuid: string, memberGuid: string, value: string) =>
  Effect.promise(async () => {
    const listed = await api.members.listMemberChallenges(memberGuid, userGuid)
    assert.strictEqual(listed.status, 200)
    const challenges = listed.data.challenges!
    assert.isAbove(challenges.length, 0)
    const resumed = await api.members.resumeAggregation(memberGuid, userGuid, {
      member: { challenges: challenges.map((challenge) => ({ guid: challenge.guid!, value })) }
    })
    assert.strictEqual(resumed.status, 202)
    return challenges
  })

layer(served, { excludeTestServices: true })("mx-platform-node against the sandbox", (it) => {
  it.effect("user + member (mxuser / password) -> CONNECTED -> accounts and transactions", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { created, memberGuid, userGuid } = yield* userWithMember(api, "password")
      assert.strictEqual(created.status, 202)
      assert.strictEqual(created.data.member!.connection_status, "CREATED")
      const status = yield* settle(api, userGuid, memberGuid)
      assert.strictEqual(status.connection_status, "CONNECTED")
      assert.isTrue(status.has_processed_transactions)
      const accounts = yield* Effect.promise(() => api.accounts.listMemberAccounts(userGuid, memberGuid))
      assert.isAbove(accounts.data.accounts!.length, 1)
      assert.isTrue(accounts.data.accounts!.every((account) => account.member_guid === memberGuid))
      const byMember = yield* Effect.promise(() =>
        api.transactions.listTransactionsByMember(memberGuid, userGuid, 1, 100)
      )
      assert.isAbove(byMember.data.transactions!.length, 0)
      assert.strictEqual(byMember.data.pagination!.per_page, 100)
      const byUser = yield* Effect.promise(() => api.transactions.listTransactions(userGuid, 1, 1000))
      assert.strictEqual(byUser.data.pagination!.total_entries, byMember.data.pagination!.total_entries)
      const dated = yield* Effect.promise(() =>
        api.transactions.listTransactions(userGuid, 1, 1000, "2000-01-01", "2000-01-31")
      )
      assert.deepStrictEqual(dated.data.transactions, [])
    }))

  it.effect("challenge -> CHALLENGED -> list challenges -> resume `correct` -> CONNECTED", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { memberGuid, userGuid } = yield* userWithMember(api, "challenge")
      const challenged = yield* settle(api, userGuid, memberGuid)
      assert.strictEqual(challenged.connection_status, "CHALLENGED")
      assert.isTrue(challenged.is_being_aggregated)
      assert.strictEqual(challenged.challenges![0]!.type, "TEXT")
      yield* answer(api, userGuid, memberGuid, "correct")
      const done = yield* settle(api, userGuid, memberGuid)
      assert.strictEqual(done.connection_status, "CONNECTED")
      assert.isFalse(done.is_being_aggregated)
    }))

  it.effect("a wrong answer -> REJECTED", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { memberGuid, userGuid } = yield* userWithMember(api, "challenge")
      yield* settle(api, userGuid, memberGuid)
      yield* answer(api, userGuid, memberGuid, "not the answer")
      assert.strictEqual((yield* settle(api, userGuid, memberGuid)).connection_status, "REJECTED")
    }))

  it.effect("two-round MFA: `challenge` -> a second question -> `correct` -> CONNECTED", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { memberGuid, userGuid } = yield* userWithMember(api, "challenge")
      yield* settle(api, userGuid, memberGuid)
      const first = yield* answer(api, userGuid, memberGuid, "challenge")
      const again = yield* settle(api, userGuid, memberGuid)
      assert.strictEqual(again.connection_status, "CHALLENGED")
      assert.notStrictEqual(again.challenges![0]!.guid, first[0]!.guid)
      yield* answer(api, userGuid, memberGuid, "correct")
      assert.strictEqual((yield* settle(api, userGuid, memberGuid)).connection_status, "CONNECTED")
    }))

  it.effect("UNAUTHORIZED -> DENIED -> update with the member's credential guids -> CONNECTED, no aggregate call", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const sandbox = yield* Sandbox.Sandbox
      const { memberGuid, userGuid } = yield* userWithMember(api, "UNAUTHORIZED")
      assert.strictEqual((yield* settle(api, userGuid, memberGuid)).connection_status, "DENIED")
      yield* sandbox.resetStats
      const credentials = (yield* Effect.promise(() => api.members.listMemberCredentials(memberGuid, userGuid))).data
        .credentials!
      const updated = yield* Effect.promise(() =>
        api.members.updateMember(memberGuid, userGuid, {
          member: {
            credentials: credentials.map((credential) => ({
              guid: credential.guid!,
              value: credential.field_name === "LOGIN" ? "mxuser" : "a-good-password"
            }))
          }
        })
      )
      assert.strictEqual(updated.data.member!.connection_status, "UPDATED")
      assert.isTrue(updated.data.member!.is_being_aggregated)
      assert.strictEqual((yield* settle(api, userGuid, memberGuid)).connection_status, "CONNECTED")
      const stats = yield* sandbox.stats
      assert.isUndefined(stats.byOperation["aggregateMember"])
      assert.deepStrictEqual(stats.aggregationsByOrigin, { credentials: 1 })
    }))

  it.effect("202 on a second aggregate while one runs", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { memberGuid, userGuid } = yield* userWithMember(api, "password")
      yield* settle(api, userGuid, memberGuid)
      const first = yield* Effect.promise(() => api.members.aggregateMember(memberGuid, userGuid))
      const second = yield* Effect.promise(() => api.members.aggregateMember(memberGuid, userGuid))
      assert.strictEqual(first.status, 202)
      assert.strictEqual(second.status, 202)
      assert.isTrue(second.data.member!.is_being_aggregated)
      assert.strictEqual(second.data.member!.most_recent_job_guid, first.data.member!.most_recent_job_guid)
    }))

  it.effect("405 on a resume when not challenged; 204 on challenges when not challenged", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { memberGuid, userGuid } = yield* userWithMember(api, "password")
      yield* settle(api, userGuid, memberGuid)
      const status = yield* failedStatus(() =>
        api.members.resumeAggregation(memberGuid, userGuid, {
          member: { challenges: [{ guid: "CRD-none", value: "correct" }] }
        })
      )
      assert.strictEqual(status, 405)
      const challenges = yield* Effect.promise(() => api.members.listMemberChallenges(memberGuid, userGuid))
      assert.strictEqual(challenges.status, 204)
      assert.strictEqual(challenges.data as unknown, "")
    }))

  it.effect("409 for a duplicate member and 401 with a wrong api key, as AxiosErrors", () =>
    Effect.gen(function*() {
      const api = yield* sdk
      const { userGuid } = yield* userWithMember(api, "same-password")
      const fields = (yield* Effect.promise(() => api.institutions.listInstitutionCredentials("mxbank"))).data
        .credentials!
      const duplicate = yield* failedStatus(() =>
        api.members.createMember(userGuid, {
          member: {
            institution_code: "mxbank",
            credentials: fields.map((field) => ({
              guid: field.guid!,
              value: field.field_name === "LOGIN" ? "mxuser" : "same-password"
            }))
          }
        })
      )
      assert.strictEqual(duplicate, 409)
      const { url } = yield* Sandbox.SandboxServer
      const intruder = new UsersApi(
        new Configuration({
          username: "sandbox-client-id",
          password: "wrong",
          basePath: url,
          baseOptions: { headers: { Accept: "application/vnd.mx.api.v1+json" } }
        })
      )
      assert.strictEqual(yield* failedStatus(() => intruder.listUsers()), 401)
    }))
})
