/**
 * End-to-end: every MX Bank scenario through the worker against the time-scaled sandbox over real HTTP.
 * Each run must reach the outcome NextAction prescribes, and the sandbox's counters must show that no
 * MX rule was broken: no delete, no aggregate right after a credential update that started one, no
 * resume outside CHALLENGED, no two polls of a member closer than 3 s of MX time.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AccountsAndTransactions, AggregationRuns, PendingChallenges, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations } from "@mx-aggregation/worker"
import { Duration, Effect, Option, Redacted } from "effect"
import { controlClient, ended, harness, newMember, pendingChallenge } from "./harness.js"

const runScenario = (password: string) =>
  Effect.gen(function*() {
    const aggregations = yield* Aggregations.Aggregations
    const member = yield* newMember(password)
    const started = yield* aggregations.start(member.memberGuid, "Scheduled")
    assert.strictEqual(started._tag, "Started")
    return { ...member, runId: started._tag === "Started" ? started.runId : undefined! }
  })

const trackedOf = (memberGuid: string) =>
  Effect.flatMap(TrackedMembers.TrackedMembers, (t) => t.get(memberGuid as any)).pipe(Effect.map(Option.getOrThrow))

const answer = (memberGuid: string, value: string) =>
  Effect.gen(function*() {
    const pending = yield* pendingChallenge(memberGuid as any)
    const client = yield* controlClient
    const challenge = pending.challenges[0]!
    const options = challenge.type === "OPTIONS" ? challenge.options : challenge.image_options
    const chosen = options.length > 0 ? options.find((o) => o.value === value)?.value ?? value : value
    yield* client.members.answer({
      path: { memberGuid: memberGuid as any },
      payload: { answers: [new Member.CredentialValue({ guid: challenge.guid, value: Redacted.make(chosen) })] }
    })
    return pending
  })

const noRuleBroken = Effect.gen(function*() {
  const stats = yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)
  assert.strictEqual(stats.deletes.members, 0, "no member deleted")
  assert.strictEqual(stats.resumesOutsideChallenged, 0, "no resume outside CHALLENGED")
  assert.strictEqual(stats.aggregatesAfterAutomatic, 0, "no aggregate during an automatic aggregation")
  if (stats.minPollIntervalMs !== null) assert.isAtLeast(stats.minPollIntervalMs, 3000, "polls >= 3 s apart (MX time)")
})

describe("the worker against the sandbox", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("password: CONNECTED, accounts and transactions pulled", () =>
      Effect.gen(function*() {
        const { memberGuid, runId } = yield* runScenario("password")
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "connected")
        const member = yield* trackedOf(memberGuid)
        assert.strictEqual(member.status, "CONNECTED")
        assert.strictEqual(member.nextAction, "PullData")
        const counts = yield* Effect.flatMap(AccountsAndTransactions.AccountsAndTransactions, (d) =>
          d.counts(memberGuid as any))
        assert.isAbove(counts.accounts, 0)
        assert.isAbove(counts.transactions, 0)
        yield* noRuleBroken
      }))

    for (const [password, value] of [["challenge", "correct"], ["options", "correct"], ["image", "correct"]] as const) {
      it.effect(`${password}: CHALLENGED, answered through the control API, resumes to CONNECTED`, () =>
        Effect.gen(function*() {
          const { memberGuid, runId } = yield* runScenario(password)
          yield* answer(memberGuid, value)
          const { run } = yield* ended(runId)
          assert.strictEqual(run.outcome, "connected")
          assert.strictEqual((yield* trackedOf(memberGuid)).status, "CONNECTED")
          yield* noRuleBroken
        }))
    }

    it.effect("two-round MFA: `challenge` then `correct` is one run with two challenges", () =>
      Effect.gen(function*() {
        const { memberGuid, runId } = yield* runScenario("challenge")
        const first = yield* answer(memberGuid, "challenge")
        const second = yield* pendingChallengeAfter(memberGuid, first.id)
        assert.strictEqual(second.runId, runId)
        yield* answer(memberGuid, "correct")
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "connected")
        const stats = yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)
        assert.isAtLeast(stats.byOperation["resumeAggregation"] ?? 0, 2)
        yield* noRuleBroken
      }))

    it.effect("a challenge answered elsewhere (not through the worker) moves the waiting run on", () =>
      Effect.gen(function*() {
        const { memberGuid, runId, userGuid } = yield* runScenario("challenge")
        const pending = yield* pendingChallenge(memberGuid)
        const mx = yield* Sandbox.Sandbox
        const { url } = yield* Sandbox.SandboxServer
        const http = yield* HttpClient.HttpClient
        const resumed = yield* http.execute(
          HttpClientRequest.put(`${url}/users/${userGuid}/members/${memberGuid}/resume`).pipe(
            HttpClientRequest.basicAuth(mx.credentials.clientId, Redacted.value(mx.credentials.apiKey)),
            HttpClientRequest.setHeader("Accept", "application/vnd.mx.api.v1+json"),
            HttpClientRequest.bodyUnsafeJson({
              member: { challenges: [{ guid: pending.challenges[0]!.guid, value: "correct" }] }
            })
          )
        )
        assert.strictEqual(resumed.status, 202)
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "connected")
        const history = yield* Effect.flatMap(PendingChallenges.PendingChallenges, (p) => p.listByMember(memberGuid))
        assert.strictEqual(history[0]!.resolution, "superseded")
        yield* noRuleBroken
      }))

    it.effect("a wrong MFA answer: REJECTED, a new aggregation when the user is present (no credential prompt)", () =>
      Effect.gen(function*() {
        const { memberGuid, runId } = yield* runScenario("challenge")
        yield* answer(memberGuid, "wrong answer")
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "needs_user_present")
        const member = yield* trackedOf(memberGuid)
        assert.strictEqual(member.status, "REJECTED")
        assert.strictEqual(member.nextAction, "StartNewAggregation")
        yield* noRuleBroken
      }))

    const endStates = [
      ["UNAUTHORIZED", "DENIED", "credentials_required", "UpdateCredentials"],
      ["IMPAIRED", "IMPAIRED", "credentials_required", "UpdateCredentials"],
      ["LOCKED", "LOCKED", "institution_action_required", "ActAtInstitution"],
      ["IMPEDED", "IMPEDED", "institution_action_required", "ActAtInstitution"],
      ["BAD_REQUEST", "FAILED", "retry_later", "RetryLater"],
      ["SERVER_ERROR", "FAILED", "retry_later", "RetryLater"],
      ["DEGRADED", "DEGRADED", "retry_later", "RetryLater"],
      ["DISCONNECTED", "DISCONNECTED", "retry_later", "RetryLater"],
      ["DISCONTINUED", "DISCONTINUED", "terminal", "StopAggregating"],
      ["DELAYED", "CONNECTED", "connected", "PullData"]
    ] as const
    for (const [password, status, outcome, action] of endStates) {
      it.effect(`${password}: ${status} -> ${outcome}`, () =>
        Effect.gen(function*() {
          const { memberGuid, runId } = yield* runScenario(password)
          const { observations, run } = yield* ended(runId)
          assert.strictEqual(run.outcome, outcome)
          const member = yield* trackedOf(memberGuid)
          assert.strictEqual(member.status, status)
          assert.strictEqual(member.nextAction, action)
          assert.isAbove(observations.length, 0)
          yield* noRuleBroken
        }))
    }

    it.effect("LOCKED: the user being present is not enough; their word that they acted at the bank aggregates", () =>
      Effect.gen(function*() {
        const aggregations = yield* Aggregations.Aggregations
        const runs = yield* AggregationRuns.AggregationRuns
        const sandbox = yield* Sandbox.Sandbox
        const { memberGuid, runId, userGuid } = yield* runScenario("LOCKED")
        yield* ended(runId)
        const aggregates = () => Effect.map(sandbox.stats, (s) => s.byOperation["aggregateMember"] ?? 0)
        const before = yield* aggregates()

        // Present: the run reads the member and leaves it LOCKED without asking the bank again.
        const present = yield* aggregations.userPresent(userGuid)
        const presentRun = present.find((p) => p.memberGuid === memberGuid)?.started
        assert.strictEqual(presentRun?._tag, "Started")
        const afterPresence = yield* ended(presentRun!.runId!)
        assert.strictEqual(afterPresence.run.outcome, "institution_action_required")
        assert.strictEqual(yield* aggregates(), before, "no aggregate on presence alone")

        // The user says they unlocked the account: the control API starts a run that aggregates.
        const client = yield* controlClient
        const triggered = yield* client.members.institutionActionDone({ path: { memberGuid } })
        assert.strictEqual(triggered.started, true)
        const acted = yield* ended(AggregationRuns.RunId.make(triggered.runId!))
        assert.strictEqual(acted.run.reason, "user_acted_at_institution")
        assert.strictEqual(yield* aggregates(), before + 1, "one aggregate on the user's word")
        assert.deepStrictEqual(
          (yield* runs.listByMember(memberGuid)).map((r) => r.reason).reverse(),
          ["scheduled", "user_present", "user_acted_at_institution"]
        )
        yield* noRuleBroken
      }))

    it.effect("a member created with MX's automatic aggregation: the run follows it and never calls aggregate", () =>
      Effect.gen(function*() {
        const aggregations = yield* Aggregations.Aggregations
        const { memberGuid } = yield* newMember("password", { skipAggregation: false })
        const started = yield* aggregations.start(memberGuid, "Scheduled")
        if (started._tag !== "Started") return assert.fail("not started")
        const { run } = yield* ended(started.runId)
        // Connected by following MX's own aggregation, or (if it finished before the run looked) pulled only.
        assert.include(["connected", "pulled_only"], run.outcome)
        const counts = yield* Effect.flatMap(
          AccountsAndTransactions.AccountsAndTransactions,
          (d) => d.counts(memberGuid)
        )
        assert.isAbove(counts.transactions, 0)
        const member = yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.member(memberGuid)).pipe(
          Effect.map(Option.getOrThrow)
        )
        assert.strictEqual(member.successfulAggregations, 1, "one aggregation: MX's own")
        yield* noRuleBroken
      }))

    it.effect("a second run while one is active is refused: one aggregation per member", () =>
      Effect.gen(function*() {
        const aggregations = yield* Aggregations.Aggregations
        const { memberGuid, runId } = yield* runScenario("DELAYED")
        const again = yield* aggregations.start(memberGuid, "Manual")
        assert.deepStrictEqual(again, { _tag: "AlreadyRunning", runId })
        yield* ended(runId)
        const stats = yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)
        assert.isAtMost(stats.peakConcurrencyByMember[memberGuid] ?? 0, 1)
      }))
  })

  // The worker's MFA timeout as in production (4 minutes of MX time): nobody answers.
  layer(harness({ engine: { mfaTimeout: Duration.minutes(4) } }), { excludeTestServices: true })((it) => {
    it.effect("an unanswered challenge ends the run as 'needs the user present'", () =>
      Effect.gen(function*() {
        const { memberGuid, runId } = yield* runScenario("challenge")
        yield* pendingChallenge(memberGuid)
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "needs_user_present")
        const member = yield* trackedOf(memberGuid)
        assert.strictEqual(member.needsUserReason, "presence")
        const client = yield* controlClient
        const late = yield* Effect.flip(client.members.answer({
          path: { memberGuid: memberGuid as any },
          payload: {
            answers: [
              new Member.CredentialValue({ guid: Member.CredentialGuid.make("CRD-x"), value: Redacted.make("correct") })
            ]
          }
        }))
        assert.strictEqual(late._tag, "Conflict")
        yield* noRuleBroken
      }))
  })
})

const pendingChallengeAfter = (memberGuid: string, previousId: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1500; i++) {
      const pending = yield* pendingChallenge(memberGuid as any)
      if (pending.id !== previousId && pending.resolvedAt === null) return pending
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.dieMessage("no second challenge")
  })

describe("the worker on PostgreSQL", () => {
  layer(harness({ kind: "pg" }), { excludeTestServices: true })((it) => {
    it.effect("challenge answered through the control API: CONNECTED with data, on PostgreSQL", () =>
      Effect.gen(function*() {
        const { memberGuid, runId } = yield* runScenario("challenge")
        yield* answer(memberGuid, "correct")
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "connected")
        const counts = yield* Effect.flatMap(
          AccountsAndTransactions.AccountsAndTransactions,
          (d) => d.counts(memberGuid as any)
        )
        assert.isAbove(counts.transactions, 0)
        yield* noRuleBroken
      }))
  })
})
