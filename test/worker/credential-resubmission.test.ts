/**
 * New credentials submitted again after MX took the first submission (its response was lost, e.g. its
 * replica died while MX's answer to the update was on its way), or twice at once (through two
 * replicas): a second update of the member at MX would start a second aggregation. The worker reads
 * MX's state of the member first (3 s after any other read), refuses the credentials (409) when MX is
 * aggregating or no longer asks for them, and follows the member with a run that never calls
 * aggregate.
 *
 * The first submission is played by updating the member at MX directly, so that the worker never
 * hears of it.
 */
import { HttpClientRequest } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations } from "@mx-aggregation/worker"
import { Effect, Option, Redacted } from "effect"
import { callMx, controlClient, ended, eventually, harness, newMember } from "./harness.js"

const stats = Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)

/** What a test compares before and after: MX's updates, aggregate calls and aggregations. */
const counts = Effect.map(stats, (s) => ({
  updates: s.byOperation["updateMember"] ?? 0,
  aggregateCalls: s.byOperation["aggregateMember"] ?? 0,
  aggregations: s.aggregationsByOrigin["credentials"] ?? 0
}))

/** A DENIED member the worker asks new credentials for. */
const deniedMember = Effect.gen(function*() {
  const member = yield* newMember("UNAUTHORIZED")
  const started = yield* Effect.flatMap(Aggregations.Aggregations, (a) => a.start(member.memberGuid, "Scheduled"))
  if (started._tag !== "Started") return yield* Effect.dieMessage("not started")
  assert.strictEqual((yield* ended(started.runId)).run.outcome, "credentials_required")
  return member
})

/** The member's own credential fields, filled in (`password` for the password field). */
const credentialValues = (memberGuid: Member.MemberGuid, password: string) =>
  Effect.gen(function*() {
    const client = yield* controlClient
    const fields = yield* client.members.credentialFields({ path: { memberGuid } })
    return fields.map((field) =>
      new Member.CredentialValue({
        guid: field.guid,
        value: Redacted.make(/pass/i.test(`${field.field_name} ${field.label} ${field.type}`) ? password : "mxuser")
      })
    )
  })

/** Updates the member at MX, behind the worker's back: the submission whose response was lost. */
const updateAtMx = (
  member: { readonly userGuid: Member.UserGuid; readonly memberGuid: Member.MemberGuid },
  values: ReadonlyArray<Member.CredentialValue>
) =>
  Effect.gen(function*() {
    const response = yield* callMx(
      HttpClientRequest.put(`/users/${member.userGuid}/members/${member.memberGuid}`).pipe(
        HttpClientRequest.bodyUnsafeJson({
          member: { credentials: values.map((v) => ({ guid: v.guid, value: Redacted.value(v.value) })) }
        })
      )
    )
    assert.strictEqual(response.status, 200, "MX took the first submission")
  })

/** Submits the credentials through the control API: the error, if any, or the run that follows. */
const submit = (memberGuid: Member.MemberGuid, values: ReadonlyArray<Member.CredentialValue>) =>
  Effect.flatMap(
    controlClient,
    (client) => client.members.updateCredentials({ path: { memberGuid }, payload: { credentials: values as any } })
  ).pipe(
    Effect.either
  )

/** The run the worker started to follow the member (its latest), once it ended. */
const followingRun = (memberGuid: Member.MemberGuid) =>
  Effect.gen(function*() {
    const [latest] = yield* Effect.flatMap(AggregationRuns.AggregationRuns, (r) => r.listByMember(memberGuid))
    assert.strictEqual(latest?.reason, "credentials_updated", "a run follows the member")
    return (yield* ended(latest!.runId)).run
  })

const noRuleBroken = Effect.gen(function*() {
  const s = yield* stats
  assert.strictEqual(s.deletes.members, 0, "no member deleted")
  assert.strictEqual(s.aggregatesAfterAutomatic, 0, "no aggregate on top of MX's own aggregation")
  if (s.minPollIntervalMs !== null) assert.isAtLeast(s.minPollIntervalMs, 3000, "reads >= 3 s apart (MX time)")
})

describe("new credentials submitted again after MX took them", () => {
  layer(
    // MX's aggregation with the new credentials lasts 5 minutes of MX time (3 s of real time).
    harness({ sandbox: { aggregationDuration: "5 minutes" } }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("MX aggregating with the first submission: refused (409), no second update, the run follows it", () =>
      Effect.gen(function*() {
        const member = yield* deniedMember
        const values = yield* credentialValues(member.memberGuid, "password")
        const before = yield* counts
        yield* updateAtMx(member, values)
        const refused = yield* submit(member.memberGuid, values)
        if (refused._tag === "Right") return assert.fail("the credentials were sent to MX again")
        assert.strictEqual(refused.left._tag, "Conflict")
        assert.match(refused.left.message, /no longer asks for new credentials.*being aggregated/)
        const after = yield* counts
        assert.strictEqual(after.updates - before.updates, 1, "MX was updated once: by the first submission")
        assert.strictEqual(after.aggregations - before.aggregations, 1, "one aggregation with the new credentials")
        const run = yield* followingRun(member.memberGuid)
        assert.strictEqual(run.outcome, "connected")
        assert.strictEqual((yield* counts).aggregateCalls, after.aggregateCalls, "no aggregate call")
        const tracked = yield* Effect.flatMap(TrackedMembers.TrackedMembers, (t) => t.get(member.memberGuid))
        assert.strictEqual(Option.getOrThrow(tracked).needsUser, false, "the worker no longer asks for credentials")
        yield* noRuleBroken
      }))

    it.effect("MX connected already with the first submission: refused (409), a run pulls the data", () =>
      Effect.gen(function*() {
        const member = yield* deniedMember
        const values = yield* credentialValues(member.memberGuid, "password")
        const before = yield* counts
        yield* updateAtMx(member, values)
        const mx = yield* Sandbox.Sandbox
        yield* eventually(
          "MX connected the member",
          Effect.map(
            mx.member(member.memberGuid),
            Option.filter((s) => s.job === null && s.status.connection_status === "CONNECTED")
          ),
          "20 seconds"
        )
        const refused = yield* submit(member.memberGuid, values)
        if (refused._tag === "Right") return assert.fail("the credentials were sent to MX again")
        assert.strictEqual(refused.left._tag, "Conflict")
        assert.match(refused.left.message, /no longer asks for new credentials.*CONNECTED/)
        const run = yield* followingRun(member.memberGuid)
        assert.include(["pulled_only", "connected"], run.outcome)
        const after = yield* counts
        assert.deepStrictEqual(
          { updates: after.updates - before.updates, aggregations: after.aggregations - before.aggregations },
          { updates: 1, aggregations: 1 }
        )
        assert.strictEqual(after.aggregateCalls, before.aggregateCalls, "no aggregate call")
        yield* noRuleBroken
      }))

    it.effect("two submissions at once: one updates the member, the other is refused (409); one aggregation", () =>
      Effect.gen(function*() {
        const member = yield* deniedMember
        const values = yield* credentialValues(member.memberGuid, "password")
        const before = yield* counts
        const results = yield* Effect.all([submit(member.memberGuid, values), submit(member.memberGuid, values)], {
          concurrency: 2
        })
        const accepted = results.flatMap((r) => r._tag === "Right" ? [r.right] : [])
        const refused = results.flatMap((r) => r._tag === "Left" ? [r.left._tag] : [])
        assert.strictEqual(accepted.length, 1, "one submission updates the member")
        assert.deepStrictEqual(refused, ["Conflict"])
        const after = yield* counts
        assert.strictEqual(after.updates - before.updates, 1, "MX was updated once")
        assert.strictEqual(after.aggregations - before.aggregations, 1, "one aggregation")
        if (accepted[0]!.runId === null) return assert.fail("no run follows MX's aggregation")
        assert.strictEqual((yield* ended(accepted[0]!.runId as AggregationRuns.RunId)).run.outcome, "connected")
        yield* noRuleBroken
      }))

    it.effect("a claim left by a replica that died: refused while it holds, taken over once it lapsed", () =>
      Effect.gen(function*() {
        const member = yield* deniedMember
        const values = yield* credentialValues(member.memberGuid, "password")
        const tracked = yield* TrackedMembers.TrackedMembers
        const mxNow = (yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.now)).getTime()
        assert.isTrue(yield* tracked.claimCredentialUpdate(member.memberGuid, "replica-that-died", mxNow + 3_600_000))
        const before = yield* counts
        const refused = yield* submit(member.memberGuid, values)
        if (refused._tag === "Right") return assert.fail("sent while another submission holds the member")
        assert.strictEqual(refused.left._tag, "Conflict")
        assert.match(refused.left.message, /being submitted already/)
        assert.strictEqual((yield* counts).updates, before.updates, "nothing sent")
        // The claim lapses: the next submission asks MX (still DENIED) and updates the member.
        assert.isTrue(yield* tracked.claimCredentialUpdate(member.memberGuid, "replica-that-died", 0))
        const accepted = yield* submit(member.memberGuid, values)
        if (accepted._tag === "Left") return assert.fail(`refused: ${accepted.left.message}`)
        assert.strictEqual((yield* counts).updates - before.updates, 1)
        if (accepted.right.runId === null) return assert.fail("no run follows MX's aggregation")
        assert.strictEqual((yield* ended(accepted.right.runId as AggregationRuns.RunId)).run.outcome, "connected")
        yield* noRuleBroken
      }))
  })
})
