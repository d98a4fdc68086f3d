/**
 * MFA answers submitted again after MX already took them (the first submission's response was lost,
 * e.g. its replica died while MX's answer to the resume was on its way): the worker must check that MX
 * still asks the round before it resumes, refuse the submission (409) when MX no longer does, close the
 * round as answered and let the waiting run go on, without waiting for its own next check.
 *
 * The first submission is played by resuming the member at MX directly, so that the worker never
 * hears of it. The run's own check ("still CHALLENGED?") is hours of MX time away: whatever moves the
 * run on within the test is the answer path.
 *
 * Two submissions of one round at once (e.g. through two replicas) must not both resume: the worker
 * claims the round before it asks MX; a submission that finds the round held waits until the holder
 * closes it (then: 409, answered meanwhile) or the claim lapses (then it takes the round over, MX asked
 * first). A claim is given back when MX refused the resume without acting, and kept while MX's answer is
 * unknown, until it lapses.
 */
import { HttpClientRequest } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { PendingChallenges } from "@mx-aggregation/store"
import { Aggregations } from "@mx-aggregation/worker"
import { Array as Arr, Duration, Effect, Fiber, Option, Redacted } from "effect"
import { callMx, controlClient, ended, eventually, harness, newMember, pendingChallenge } from "./harness.js"

const stats = Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)

/** Resumes the member at MX, behind the worker's back: the submission whose response was lost. */
const resumeAtMx = (
  member: { readonly userGuid: Member.UserGuid; readonly memberGuid: Member.MemberGuid },
  pending: PendingChallenges.PendingChallenge,
  value: string
) =>
  Effect.gen(function*() {
    const response = yield* callMx(
      HttpClientRequest.put(`/users/${member.userGuid}/members/${member.memberGuid}/resume`).pipe(
        HttpClientRequest.bodyUnsafeJson({
          member: { challenges: pending.challenges.map((c) => ({ guid: c.guid, value })) }
        })
      )
    )
    assert.strictEqual(response.status, 202, "MX took the first submission")
  })

/** Submits answers to the round through the control API; the error, if any. */
const submit = (memberGuid: Member.MemberGuid, pending: PendingChallenges.PendingChallenge, value: string) =>
  Effect.gen(function*() {
    const client = yield* controlClient
    const answers = pending.challenges.map((c) =>
      new Member.CredentialValue({ guid: c.guid, value: Redacted.make(value) })
    )
    if (!Arr.isNonEmptyReadonlyArray(answers)) return yield* Effect.dieMessage("a round without challenges")
    return yield* client.members.answer({ path: { memberGuid }, payload: { answers } }).pipe(
      Effect.flip,
      Effect.option
    )
  })

const startRun = (password: string) =>
  Effect.gen(function*() {
    const member = yield* newMember(password)
    const started = yield* Effect.flatMap(Aggregations.Aggregations, (a) => a.start(member.memberGuid, "Scheduled"))
    if (started._tag !== "Started") return yield* Effect.dieMessage("not started")
    return { ...member, runId: started.runId }
  })

const rounds = (memberGuid: Member.MemberGuid) =>
  Effect.flatMap(PendingChallenges.PendingChallenges, (p) => p.listByMember(memberGuid))

const noRuleBroken = Effect.gen(function*() {
  const s = yield* stats
  assert.strictEqual(s.resumesOutsideChallenged, 0, "no resume outside CHALLENGED")
  assert.strictEqual(s.deletes.members, 0, "no member deleted")
  if (s.minPollIntervalMs !== null) assert.isAtLeast(s.minPollIntervalMs, 3000, "reads >= 3 s apart (MX time)")
})

describe("MFA answers submitted again after MX took them", () => {
  layer(
    harness({
      // MX's own MFA timeout and the worker's are beyond the test.
      sandbox: { mfaTimeout: "12 hours" },
      // The run checks "still CHALLENGED?" every 5 hours of MX time (3 minutes of real time).
      engine: { mfaTimeout: Duration.hours(10), challengeWatchInterval: Duration.hours(5) }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("MX no longer CHALLENGED: refused (409) without a resume, the round closed, the run connects", () =>
      Effect.gen(function*() {
        const member = yield* startRun("challenge")
        const pending = yield* pendingChallenge(member.memberGuid)
        const resumesBefore = (yield* stats).byOperation["resumeAggregation"] ?? 0
        yield* resumeAtMx(member, pending, "correct")
        const refused = yield* submit(member.memberGuid, pending, "correct")
        assert.strictEqual((yield* stats).resumesOutsideChallenged, 0, "no resume outside CHALLENGED")
        assert.strictEqual(
          ((yield* stats).byOperation["resumeAggregation"] ?? 0) - resumesBefore,
          1,
          "MX was resumed once: by the first submission"
        )
        assert.isTrue(Option.isSome(refused), "the submission is refused")
        assert.strictEqual(Option.getOrThrow(refused)._tag, "Conflict")
        assert.match((Option.getOrThrow(refused) as { readonly message: string }).message, /already answered/)
        const [round] = yield* rounds(member.memberGuid)
        assert.strictEqual(round?.id, pending.id)
        assert.strictEqual(round?.resolution, "answered")
        // The run's own check is 3 minutes of real time away: only the answer path can have moved it on.
        const { run } = yield* ended(member.runId, "30 seconds")
        assert.strictEqual(run.outcome, "connected")
        yield* noRuleBroken
      }))

    it.effect("MX asks the next round: the old round's answers are refused (409), the next round is offered", () =>
      Effect.gen(function*() {
        const member = yield* startRun("challenge")
        const first = yield* pendingChallenge(member.memberGuid)
        // `challenge` as the first round's answer: MX asks a second round.
        yield* resumeAtMx(member, first, "challenge")
        const mx = yield* Sandbox.Sandbox
        yield* eventually(
          "MX asks the second round",
          Effect.map(
            mx.member(member.memberGuid),
            (state) => Option.filter(state, (s) => s.job?.phase === "challenged" && s.job.mfaRound === 1)
          )
        )
        const refused = yield* submit(member.memberGuid, first, "challenge")
        assert.isTrue(Option.isSome(refused), "the submission is refused")
        assert.strictEqual(Option.getOrThrow(refused)._tag, "Conflict")
        // The run moves on at once and offers the round MX asks now.
        const second = yield* eventually(
          "the second round is offered",
          Effect.map(
            rounds(member.memberGuid),
            (all) => Option.fromNullable(all.find((r) => r.id !== first.id && r.resolvedAt === null))
          ),
          "30 seconds"
        )
        assert.strictEqual(second.runId, member.runId)
        assert.notDeepEqual(second.challenges.map((c) => c.guid), first.challenges.map((c) => c.guid))
        assert.strictEqual((yield* rounds(member.memberGuid)).find((r) => r.id === first.id)?.resolution, "answered")
        assert.isTrue(
          Option.isNone(yield* submit(member.memberGuid, second, "correct")),
          "the second round is answered"
        )
        const { run } = yield* ended(member.runId, "30 seconds")
        assert.strictEqual(run.outcome, "connected")
        yield* noRuleBroken
      }))
  })
})

/** The member's open round, as stored (its claim included). */
const openRound = (memberGuid: Member.MemberGuid) =>
  Effect.flatMap(PendingChallenges.PendingChallenges, (p) => p.current(memberGuid)).pipe(Effect.map(Option.getOrThrow))

const resumes = Effect.map(stats, (s) => s.byOperation["resumeAggregation"] ?? 0)

const setFaults = (faults: Parameters<Sandbox.Service["setFaults"]>[0]) =>
  Effect.flatMap(Sandbox.Sandbox, (s) => s.setFaults(faults))

/** A member waiting on its first round, whose answers MX refuses with `status` (a 503 or a 500) once. */
const failedResume = (status: 500 | 503) =>
  Effect.gen(function*() {
    const member = yield* startRun("challenge")
    const pending = yield* pendingChallenge(member.memberGuid)
    yield* setFaults({ serverErrors: { byOperation: { resumeAggregation: 1 }, status } })
    const failed = yield* submit(member.memberGuid, pending, "correct").pipe(Effect.ensuring(setFaults({})))
    assert.strictEqual(Option.getOrThrow(failed)._tag, "Upstream")
    const round = yield* openRound(member.memberGuid)
    assert.strictEqual(round.id, pending.id, "the round is still open")
    return { member, pending, round }
  })

describe("MFA answers submitted twice at once, or while another submission holds the round", () => {
  layer(
    harness({
      sandbox: { mfaTimeout: "12 hours" },
      engine: { mfaTimeout: Duration.hours(10), challengeWatchInterval: Duration.hours(5) },
      // MX's refusals come back at once (one quick retry), not after the client's 8 s of backoff.
      mxRetrySchedule: MxClient.makeRetrySchedule({ base: "1 millis", cap: "1 millis", maxRetries: 1 })
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("two submissions of one round at once: one resumes, the other is refused (409); MX resumed once", () =>
      Effect.gen(function*() {
        const member = yield* startRun("challenge")
        const pending = yield* pendingChallenge(member.memberGuid)
        const before = yield* resumes
        // Every MX answer takes 150 ms: both submissions would list the challenges before either resume.
        yield* setFaults({ latency: "150 millis" })
        const results = yield* Effect.all([
          submit(member.memberGuid, pending, "correct"),
          submit(member.memberGuid, pending, "correct")
        ], { concurrency: 2 }).pipe(Effect.ensuring(setFaults({})))
        assert.strictEqual(results.filter(Option.isNone).length, 1, "one submission resumes")
        assert.deepStrictEqual(results.flatMap((r) => Option.isSome(r) ? [r.value._tag] : []), ["Conflict"])
        assert.strictEqual((yield* resumes) - before, 1, "MX was resumed once")
        assert.strictEqual((yield* ended(member.runId, "30 seconds")).run.outcome, "connected")
        yield* noRuleBroken
      }))

    it.effect("MX refused the resume without acting (503): the claim is given back, the next submission resumes", () =>
      Effect.gen(function*() {
        const { member, pending, round } = yield* failedResume(503)
        assert.isNull(round.claimedBy, "the claim was given back")
        assert.isTrue(Option.isNone(yield* submit(member.memberGuid, pending, "correct")), "the user's retry resumes")
        assert.strictEqual((yield* ended(member.runId, "30 seconds")).run.outcome, "connected")
        yield* noRuleBroken
      }))

    it.effect("MX's answer to the resume unknown (500): a new submission waits while the claim holds, resumes once it lapsed", () =>
      Effect.gen(function*() {
        const { member, pending, round: held } = yield* failedResume(500)
        assert.isNotNull(held.claimedBy, "the round stays claimed: MX may have resumed")
        const before = yield* resumes
        const claims = yield* PendingChallenges.PendingChallenges
        // The user submits again (the first submission got no usable answer) while the claim holds.
        const second = yield* Effect.fork(submit(member.memberGuid, pending, "correct"))
        yield* Effect.sleep("300 millis")
        assert.isNull(second.unsafePoll(), "the submission waits for the claim")
        assert.strictEqual((yield* resumes) - before, 0, "nothing sent while the claim holds")
        // The claim lapses (its replica died, say): the waiting submission asks MX, which still asks the
        // round, and resumes.
        assert.isTrue(yield* claims.claim({ id: held.id, owner: held.claimedBy!, expiresAt: 0 }))
        assert.isTrue(Option.isNone(yield* Fiber.join(second)), "resumed")
        assert.strictEqual((yield* resumes) - before, 1)
        assert.strictEqual((yield* ended(member.runId, "30 seconds")).run.outcome, "connected")
        yield* noRuleBroken
      }))
  })
})
