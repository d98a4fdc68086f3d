/**
 * One MFA round, both halves. The run's half: list the challenges and store them (never answers), tell
 * the partner, wait durably for the answers (raced with the MFA timeout, checking now and then that MX
 * still asks), and close the round when MX moved on. The submission's half (`makeAnswering`): validate
 * the answers, claim the round (one submission at a time, across replicas), resume the aggregation at
 * MX and wake the waiting run. The two meet at the round's `answered` signal, a `DurableDeferred` per
 * stored round that carries no value: the answers go to MX only, never to the journal, the database or
 * a log.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { DurableClock, DurableDeferred, type WorkflowEngine } from "@effect/workflow"
import { AggregationPolicy, type ConnectionStatus, type Member, Mfa } from "@mx-aggregation/domain"
import { type MxApiError, MxClient } from "@mx-aggregation/mx-api"
import {
  AggregationRuns,
  Outbox,
  PendingChallenges,
  type StoreError,
  TrackedMembers,
  Transaction
} from "@mx-aggregation/store"
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { EngineConfig, toReal } from "./EngineConfig.js"
import * as Metrics from "./Metrics.js"
import { mxActivity, skippedRows } from "./RunActivity.js"
import { ActivityError, AggregationWorkflow, executionIdOf, type RunPayload } from "./RunWorkflow.js"
import * as SubmissionClaim from "./SubmissionClaim.js"

/**
 * The member is not waiting for MFA answers (no pending challenge, or it expired).
 *
 * @since 0.1.0
 * @category errors
 */
export class MemberNotWaiting extends Schema.TaggedError<MemberNotWaiting>()("MemberNotWaiting", {
  memberGuid: Schema.String,
  message: Schema.String
}) {}

/**
 * Why a submission of MFA answers was refused or failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type AnswerError =
  | MemberNotWaiting
  | Mfa.InvalidMfaAnswers
  | Mfa.EmptyResume
  | Mfa.MemberNotChallenged
  | MxApiError.MxApiError
  | StoreError.StoreError

/**
 * The signal that a stored round (`pendingId`) was answered and the member resumed: one per round, so
 * that each MFA round waits on its own. The run awaits it (`awaitAnswers`); the submission that
 * resumed MX completes it (`signalAnswered`).
 */
const answered = (pendingId: number) => DurableDeferred.make(`ChallengeAnswered-${pendingId}`)

/** Completes the round's signal, waking the run that waits on it wherever it runs. */
const signalAnswered = (round: PendingChallenges.PendingChallenge) =>
  Effect.gen(function*() {
    const deferred = answered(round.id)
    const executionId = yield* executionIdOf(round.runId)
    const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: AggregationWorkflow, executionId })
    yield* DurableDeferred.succeed(deferred, { token, value: void 0 })
  })

// The run's half

const Challenged = Schema.Struct({ pendingId: Schema.NullOr(Schema.Number) })
/**
 * Lists the challenges, stores them (never answers) and tells the partner. `pendingId`: the stored
 * round, `null` when MX no longer asks any.
 *
 * @since 0.1.0
 * @category the run's half
 */
export const storeChallenges = (payload: RunPayload, round: number) =>
  mxActivity({
    name: `StoreChallenges-${round}`,
    success: Challenged,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const pending = yield* PendingChallenges.PendingChallenges
      const outbox = yield* Outbox.Outbox
      const config = yield* EngineConfig
      const skipped = yield* skippedRows(payload.runId)
      const challenges = yield* mx.listMemberChallenges({
        userGuid: payload.userGuid,
        memberGuid: payload.memberGuid,
        onSkipped: skipped.onSkipped
      })
      yield* runs.addMxCalls(payload.runId, 1)
      yield* skipped.record
      // 204: no longer challenged (answered elsewhere, or already moved on); poll again.
      if (challenges.length === 0) return { pendingId: null }
      const now = yield* Clock.currentTimeMillis
      const stored = yield* pending.add({
        memberGuid: payload.memberGuid,
        runId: payload.runId,
        challenges,
        expiresAt: now + Duration.toMillis(config.mfaTimeout)
      })
      yield* outbox.append({
        memberGuid: payload.memberGuid,
        userGuid: payload.userGuid,
        type: "mfa_required",
        payload: {
          run_id: payload.runId,
          challenges: challenges.map((c) => ({ guid: c.guid, type: c.type, label: c.label ?? null }))
        }
      })
      yield* Metrics.mfaWaitStarted
      return { pendingId: stored.id }
    })
  })

/** Whether the member is still CHALLENGED (one status read). */
const stillChallenged = (payload: RunPayload, round: number, check: number, pendingId: number) =>
  mxActivity({
    name: `CheckChallenge-${round}-${check}`,
    success: Schema.Boolean,
    error: ActivityError,
    execute: Effect.gen(function*() {
      const mx = yield* MxClient.MxClient
      const runs = yield* AggregationRuns.AggregationRuns
      const pending = yield* PendingChallenges.PendingChallenges
      const status = yield* mx.readMemberStatus({ userGuid: payload.userGuid, memberGuid: payload.memberGuid })
      yield* runs.addMxCalls(payload.runId, 1)
      if (status.connection_status !== "CHALLENGED") return false
      // CHALLENGED again with other questions: the round we wait on was answered (its signal lost, e.g. in
      // a crash right after the resume) and MX asks the next one.
      const waitingOn = yield* pending.current(payload.memberGuid)
      const asked = new Set(status.challenges.map((c) => c.guid as string))
      return Option.match(waitingOn, {
        onNone: () => true,
        onSome: (p) => p.id !== pendingId || asked.size === 0 || p.challenges.some((c) => asked.has(c.guid))
      })
    })
  })

/**
 * Waits durably for the answers, up to the MFA timeout, in slices of `challengeWatchInterval`: after
 * each slice without answers the run checks that the member is still CHALLENGED, so that answers given
 * elsewhere, a resume whose signal was lost in a crash, or MX's own timeout move the run on.
 *
 * @since 0.1.0
 * @category the run's half
 */
export const awaitAnswers = (payload: RunPayload, round: number, pendingId: number) =>
  Effect.gen(function*() {
    const config = yield* EngineConfig
    const timeout = Duration.toMillis(config.mfaTimeout)
    const slice = Math.max(
      Duration.toMillis(config.challengeWatchInterval),
      Duration.toMillis(AggregationPolicy.minimumPollInterval)
    )
    for (let check = 0, waited = 0; waited < timeout; check++) {
      const wait = Math.min(slice, timeout - waited)
      waited += wait
      const result = yield* DurableDeferred.raceAll({
        name: `AwaitAnswers-${round}-${check}`,
        success: Schema.Literal("Answered", "Waited"),
        error: Schema.Never,
        effects: [
          DurableDeferred.await(answered(pendingId)).pipe(Effect.as("Answered" as const)),
          DurableClock.sleep({
            name: `AnswersWait-${round}-${check}`,
            duration: toReal(config, Duration.millis(wait)),
            inMemoryThreshold: "1 millis"
          }).pipe(Effect.as("Waited" as const))
        ]
      })
      if (result === "Answered") return "Answered" as const
      if (waited < timeout && !(yield* stillChallenged(payload, round, check, pendingId))) return "MovedOn" as const
    }
    return "TimedOut" as const
  })

/**
 * Closes the round the run waited on: it expired (the MFA timeout) or MX moved on without its answers.
 *
 * @since 0.1.0
 * @category the run's half
 */
export const closeChallenge = (payload: RunPayload, round: number, resolution: "expired" | "superseded") =>
  mxActivity({
    name: `CloseChallenge-${round}`,
    error: ActivityError,
    execute: Effect.asVoid(
      Effect.flatMap(
        PendingChallenges.PendingChallenges,
        (pending) => pending.resolve({ memberGuid: payload.memberGuid, runId: payload.runId, resolution })
      ).pipe(Effect.zipLeft(Metrics.mfaWaitEnded(resolution === "expired" ? "timed_out" : "superseded")))
    )
  })

// The submission's half

/** Whether MX asks exactly the round's challenges (the same guids): answers to it can be sent. */
const asksRound = (round: PendingChallenges.PendingChallenge, asked: ReadonlyArray<Member.Challenge>): boolean => {
  const guids = new Set<string>(round.challenges.map((c) => c.guid))
  return asked.length > 0 && asked.length === guids.size && asked.every((c) => guids.has(c.guid))
}
/**
 * Answering a member's open round (`Aggregations.answerChallenges`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAnswering = Effect.gen(function*() {
  const config = yield* EngineConfig
  const sql = yield* SqlClient.SqlClient
  const tracked = yield* TrackedMembers.TrackedMembers
  const pending = yield* PendingChallenges.PendingChallenges
  const mx = yield* MxClient.MxClient
  const engine = yield* Effect.context<WorkflowEngine.WorkflowEngine>()
  const claimMillis = SubmissionClaim.claimMillis(config)
  const withinClaim = SubmissionClaim.withinClaim(config)

  /**
   * Closes the round as answered and wakes the run waiting on it, unless the round was closed meanwhile
   * (the run saw MX move on, or stored MX's next round): then that run has moved on already, and a newer
   * round must stay open.
   */
  const closeAnswered = (round: PendingChallenges.PendingChallenge) =>
    Effect.gen(function*() {
      const closed = yield* Transaction.run(
        "Aggregations.answerChallenges",
        Effect.flatMap(pending.current(round.memberGuid), (open) =>
          Option.exists(open, (p) => p.id === round.id)
            ? pending.resolve({ memberGuid: round.memberGuid, runId: round.runId, resolution: "answered" })
            : Effect.succeed(false))
      ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      if (!closed) return
      yield* signalAnswered(round).pipe(Effect.provide(engine))
      yield* Metrics.mfaWaitEnded("answered", (yield* Clock.currentTimeMillis) - round.createdAt)
    })

  /**
   * Lists MX's challenges; when MX no longer asks exactly the round's (answers that reached MX in a
   * submission whose response was lost), closes the round as answered and refuses the answers. Listing
   * the challenges is not a status read: it needs no spacing from the waiting run's reads.
   */
  const refuseUnlessAsked = (round: PendingChallenges.PendingChallenge, ref: MxClient.MemberRef) =>
    Effect.gen(function*() {
      const asked = yield* mx.listMemberChallenges(ref)
      if (asksRound(round, asked)) return
      yield* closeAnswered(round)
      yield* Effect.logInfo("MFA answers not sent: MX no longer asks the round").pipe(
        Effect.annotateLogs({ memberGuid: ref.memberGuid, stillChallenged: asked.length > 0 })
      )
      return yield* new MemberNotWaiting({
        memberGuid: ref.memberGuid,
        message: `The MFA round of member ${ref.memberGuid} was already answered: MX no longer asks these challenges`
      })
    })

  /**
   * Waits while another submission holds the member's open round `roundId`: until that submission
   * closes it (`None`: answered meanwhile, or another round is open now) or its claim lapses (the round,
   * free to take over). A claim lasts `submissionClaim`, which bounds the wait.
   */
  const awaitOtherSubmission = (memberGuid: Member.MemberGuid, roundId: number) =>
    Effect.gen(function*() {
      while (true) {
        const current = yield* pending.current(memberGuid)
        if (Option.isNone(current) || current.value.id !== roundId) return Option.none()
        const now = yield* Clock.currentTimeMillis
        const claimEnds = current.value.claimedBy === null ? now : (current.value.claimExpiresAt ?? now)
        if (claimEnds <= now) return current
        yield* Effect.sleep(Duration.millis(Math.min(claimEnds - now + 1, claimMillis / 20)))
      }
    })

  /**
   * Validates MFA answers against the member's pending challenges, claims the round, checks that MX
   * still asks it, resumes the aggregation at MX and wakes the waiting run (see
   * `Aggregations.Service["answerChallenges"]`).
   */
  const answerChallenges = (
    memberGuid: Member.MemberGuid,
    answers: ReadonlyArray<Member.CredentialValue>
  ): Effect.Effect<void, AnswerError> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* pending.current(memberGuid)
      if (Option.isNone(current) || (current.value.expiresAt !== null && current.value.expiresAt <= now)) {
        return yield* new MemberNotWaiting({
          memberGuid,
          message: `Member ${memberGuid} is not waiting for MFA answers`
        })
      }
      const round = current.value
      const member = yield* tracked.get(memberGuid)
      const status: ConnectionStatus.NullableReportedStatus = Option.match(member, {
        onNone: () => null,
        onSome: (m) => m.status
      })
      const ref = { userGuid: Option.getOrThrow(member).userGuid, memberGuid }
      const ordered = yield* Mfa.prepareResume(status, round.challenges, answers)
      const beingAnswered = new MemberNotWaiting({
        memberGuid,
        message: `The MFA round of member ${memberGuid} is already being answered: MX's answer is awaited`
      })
      const answeredMeanwhile = new MemberNotWaiting({
        memberGuid,
        message: `The MFA round of member ${memberGuid} was answered by another submission meanwhile`
      })
      // One submission at a time: of two at once, only one claims the round; the other would resume
      // outside CHALLENGED. A submission that finds the round held (through this replica or another)
      // waits for the holder: it closes the round (answered meanwhile), or its claim lapses (its replica
      // died, MX's answer unknown) and this one takes the round over, MX asked first. A user whose first
      // submission got no response is thereby answered, not told to come back.
      const owner = `answers-${randomUUID()}`
      const hold = Effect.flatMap(
        Clock.currentTimeMillis,
        (at) => pending.claim({ id: round.id, owner, expiresAt: at + claimMillis })
      )
      const release = pending.releaseClaim({ id: round.id, owner })
      let held = false
      for (let attempt = 0; attempt < 3 && !held; attempt++) {
        const lapsed = yield* awaitOtherSubmission(memberGuid, round.id)
        if (Option.isNone(lapsed)) return yield* answeredMeanwhile
        held = yield* hold
      }
      if (!held) return yield* beingAnswered
      yield* refuseUnlessAsked(round, ref).pipe(Effect.tapError(() => release))
      if (!(yield* hold)) return yield* beingAnswered
      yield* withinClaim("resumeAggregation", mx.resumeAggregation({ ...ref, answers: ordered })).pipe(
        Effect.tapError((error) =>
          SubmissionClaim.mxDidNotAct(error)
            ? Effect.asVoid(release)
            : Effect.logWarning("MX's answer to the resume is unknown: the round stays claimed until it lapses").pipe(
              Effect.annotateLogs({ memberGuid, reason: error.reason })
            )
        )
      )
      yield* closeAnswered(round)
      yield* Effect.logInfo("MFA answers sent; run resumed").pipe(Effect.annotateLogs({ memberGuid }))
    })
  return answerChallenges
})
