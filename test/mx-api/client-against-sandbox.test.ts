/**
 * The real MxClient over NodeHttpClient (undici) against the MX sandbox served on 127.0.0.1: the
 * full flow an aggregation takes, MFA included, and the error paths MX documents.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConnectionStatus, Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { MxBank, Sandbox } from "@mx-aggregation/mx-sandbox"
import { Chunk, Effect, Layer, Logger, LogLevel, Redacted, Schedule, Stream } from "effect"

const clientId = "integration-client"
const apiKey = Redacted.make("integration-api-key")

/**
 * A sandbox on a free port (MX time 20x faster: a 4 s aggregation takes 0.2 s), the client pointed at
 * it, and the Node HTTP client provided to the whole test.
 */
const environment = (sandboxOptions: Sandbox.ServerOptions = {}, clientOptions: Partial<MxClient.Options> = {}) => {
  const server = Sandbox.layerServer({
    clientId,
    apiKey,
    timeScale: 20,
    aggregationDuration: "4 seconds",
    background: { enabled: false },
    ...sandboxOptions
  })
  const client = Layer.unwrapEffect(
    Effect.map(Sandbox.SandboxServer, ({ url }) =>
      MxClient.layer({
        baseUrl: url,
        clientId,
        apiKey,
        // Short backoff: the sandbox's faults are retried in real time.
        retrySchedule: MxClient.makeRetrySchedule({ base: "20 millis", cap: "200 millis", maxRetries: 8 }),
        ...clientOptions
      }))
  )
  return client.pipe(Layer.provideMerge(server), Layer.provide(NodeHttpClient.layerUndici))
}

/**
 * Polls the member's status (every 50 ms of real time) until the aggregation settles: CHALLENGED, or
 * a settled status once `is_being_aggregated` is false (right after an aggregate, the previous
 * status is still shown while the new job runs).
 */
const pollUntilSettled = (mx: MxClient.Service, ref: MxClient.MemberRef) =>
  mx.readMemberStatus(ref).pipe(
    Effect.repeat(
      Schedule.recurUntil((status: Member.MemberStatus) =>
        status.connection_status === "CHALLENGED" ||
        (status.is_being_aggregated === false && ConnectionStatus.isEndState(status.connection_status))
      ).pipe(Schedule.addDelay(() => "50 millis"))
    ),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the aggregation never settled") })
  )

/** The MX Bank credential values for a password, keyed by the institution's credential fields. */
const mxBankCredentials = (mx: MxClient.Service, password: string) =>
  Effect.gen(function*() {
    const fields = yield* Stream.runCollect(
      mx.listInstitutionCredentials({ institutionCode: Member.InstitutionCode.make("mxbank") })
    )
    const sorted = Chunk.toReadonlyArray(fields).slice().sort((a, b) => (a.display_order ?? 0) - (b.display_order ?? 0))
    assert.strictEqual(sorted.length, 2, "MX Bank asks for a username and a password")
    return [
      Member.CredentialValue.make({ guid: sorted[0]!.guid, value: Redacted.make(MxBank.username) }),
      Member.CredentialValue.make({ guid: sorted[1]!.guid, value: Redacted.make(password) })
    ]
  })

const newMember = (mx: MxClient.Service, password: string) =>
  Effect.gen(function*() {
    const user = yield* mx.createUser({ id: `user-${password}-${Math.random()}` })
    const member = yield* mx.createMember({
      userGuid: user.guid,
      institutionCode: Member.InstitutionCode.make("mxbank"),
      credentials: yield* mxBankCredentials(mx, password)
    })
    return { userGuid: user.guid, memberGuid: member.guid, member }
  })

describe("MxClient against the sandbox over HTTP", () => {
  it.live("create user and member, poll to CONNECTED, list accounts and transactions", () =>
    Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const { member, ...ref } = yield* newMember(mx, "password")
      assert.strictEqual(member.institution_code, "mxbank")

      const user = yield* mx.readUser({ userGuid: ref.userGuid })
      assert.strictEqual(user.guid, ref.userGuid)
      const members = yield* Stream.runCollect(mx.listMembers({ userGuid: ref.userGuid }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(members).map((m) => m.guid), [ref.memberGuid])

      const status = yield* pollUntilSettled(mx, ref)
      assert.strictEqual(status.connection_status, "CONNECTED")
      assert.isFalse(status.is_being_aggregated)
      assert.deepStrictEqual(yield* mx.listMemberChallenges(ref), [], "204 when not CHALLENGED")

      const accounts = yield* Stream.runCollect(mx.listMemberAccounts(ref))
      assert.isAbove(accounts.length, 0)
      for (const account of accounts) assert.strictEqual(account.member_guid, ref.memberGuid)

      // Small pages: the stream walks MX's pagination and yields every transaction once.
      const all = yield* Stream.runCollect(mx.listTransactionsByMember({ ...ref, recordsPerPage: 10 }))
      assert.isAbove(all.length, 10, "more than one page")
      const guids = Chunk.toReadonlyArray(all).map((t) => t.guid)
      assert.strictEqual(new Set(guids).size, guids.length)
      const big = yield* Stream.runCollect(mx.listTransactionsByMember({ ...ref, recordsPerPage: 1000 }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(big).map((t) => t.guid).sort(), guids.slice().sort())

      const credentials = yield* Stream.runCollect(mx.listMemberCredentials(ref))
      assert.strictEqual(credentials.length, 2)

      // A new aggregation: 202 with the member, then CONNECTED again.
      const aggregating = yield* mx.aggregateMember(ref)
      assert.strictEqual(aggregating.guid, ref.memberGuid)
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "CONNECTED")

      yield* mx.deleteMember(ref)
      const gone = yield* Effect.flip(mx.readMember(ref))
      assert.strictEqual(gone.reason, "NotFound")
      assert.strictEqual(gone.status, 404)
    }).pipe(Effect.provide(environment())))

  it.live("MFA: CHALLENGED, list challenges, resume with the answer, CONNECTED", () =>
    Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const { member: _, ...ref } = yield* newMember(mx, "challenge")
      const challenged = yield* pollUntilSettled(mx, ref)
      assert.strictEqual(challenged.connection_status, "CHALLENGED")
      const challenges = yield* mx.listMemberChallenges(ref)
      assert.isAbove(challenges.length, 0)

      const resumed = yield* mx.resumeAggregation({
        ...ref,
        answers: challenges.map((c) =>
          Member.CredentialValue.make({ guid: c.guid, value: Redacted.make(MxBank.correctAnswer) })
        )
      })
      assert.strictEqual(resumed.guid, ref.memberGuid)
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "CONNECTED")

      // Resume outside CHALLENGED is refused, typed.
      const refused = yield* Effect.flip(mx.resumeAggregation({
        ...ref,
        answers: challenges.map((c) => Member.CredentialValue.make({ guid: c.guid, value: Redacted.make("x") }))
      }))
      assert.strictEqual(refused.reason, "NotAllowed")
      assert.strictEqual(refused.status, 405)
    }).pipe(Effect.provide(environment())))

  it.live("MFA with options: answered with the option's value", () =>
    Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const { member: _, ...ref } = yield* newMember(mx, "options")
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "CHALLENGED")
      const [challenge] = yield* mx.listMemberChallenges(ref)
      assert.strictEqual(challenge!.type, "OPTIONS")
      const correct = challenge!.options.find((o) => o.value === MxBank.correctAnswer)
      assert.isDefined(correct)
      yield* mx.resumeAggregation({
        ...ref,
        answers: [Member.CredentialValue.make({ guid: challenge!.guid, value: Redacted.make(correct!.value) })]
      })
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "CONNECTED")
    }).pipe(Effect.provide(environment())))

  it.live("update credentials with skip_aggregation: the member stays as it was, then aggregates", () =>
    Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const { member: _, ...ref } = yield* newMember(mx, "UNAUTHORIZED")
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "DENIED")
      const fields = yield* Stream.runCollect(mx.listMemberCredentials(ref))
      const sorted = Chunk.toReadonlyArray(fields).slice().sort((a, b) =>
        (a.display_order ?? 0) - (b.display_order ?? 0)
      )
      const updated = yield* mx.updateMember({
        ...ref,
        credentials: [
          Member.CredentialValue.make({ guid: sorted[0]!.guid, value: Redacted.make(MxBank.username) }),
          Member.CredentialValue.make({ guid: sorted[1]!.guid, value: Redacted.make("a-new-password") })
        ],
        skipAggregation: true
      })
      assert.isFalse(updated.is_being_aggregated)
      yield* mx.aggregateMember(ref)
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "CONNECTED")
    }).pipe(Effect.provide(environment())))

  it.live("wrong API key: Unauthorized, not retried", () =>
    Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const error = yield* Effect.flip(mx.createUser())
      assert.strictEqual(error.reason, "Unauthorized")
      assert.strictEqual(error.status, 401)
      assert.notInclude(JSON.stringify(error), "wrong-key")
      const stats = yield* (yield* Sandbox.Sandbox).stats
      assert.strictEqual(stats.requests, 1, "a 401 is not retried")
      assert.strictEqual(stats.byStatus["401"], 1)
    }).pipe(Effect.provide(environment({}, { apiKey: Redacted.make("wrong-key") }))))

  it.live("server faults (503 on a third of the calls) are retried through to success", () =>
    Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const { member: _, ...ref } = yield* newMember(mx, "password")
      assert.strictEqual((yield* pollUntilSettled(mx, ref)).connection_status, "CONNECTED")
      const accounts = yield* Stream.runCollect(mx.listMemberAccounts(ref))
      assert.isAbove(accounts.length, 0)
      const stats = yield* (yield* Sandbox.Sandbox).stats
      assert.isAbove(stats.injectedErrors, 0, "the sandbox did fail some calls")
    }).pipe(
      // The client logs a warning per retry; this test expects many.
      Logger.withMinimumLogLevel(LogLevel.Error),
      Effect.provide(environment({ faults: { serverErrors: { rate: 0.33, status: 503 } } }))
    ))
})
