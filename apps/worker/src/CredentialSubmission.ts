/**
 * Submitting new credentials for a member (DENIED, PREVENTED, IMPAIRED, IMPORTED): the member's own
 * credential fields first, the domain's `CredentialUpdate.plan`, a claim on the member (one update at
 * a time and no run meanwhile, across replicas), MX asked whether it still wants credentials, the
 * update at MX (never delete and recreate), and a run that follows MX's own aggregation.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql"
import { AggregationPolicy, CredentialUpdate, Member, NextAction } from "@mx-aggregation/domain"
import { type MxApiError, MxClient } from "@mx-aggregation/mx-api"
import {
  type AggregationRuns,
  type Outbox,
  type PendingChallenges,
  type StoreError,
  TrackedMembers
} from "@mx-aggregation/store"
import { Clock, Duration, Effect, Option, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { EngineConfig } from "./EngineConfig.js"
import { MemberNotTracked, type Started, type Starter } from "./RunStart.js"
import * as StatusObservations from "./StatusObservations.js"
import * as SubmissionClaim from "./SubmissionClaim.js"

/**
 * New credentials were not sent to MX: MX no longer asks for them (it is aggregating the member, most
 * likely with credentials submitted before whose response was lost, or the member's status no longer
 * calls for new credentials), or another submission or a run holds the member. Nothing reached MX; the
 * member is followed by a run.
 *
 * @since 0.1.0
 * @category errors
 */
export class MemberNotAwaitingCredentials
  extends Schema.TaggedError<MemberNotAwaitingCredentials>()("MemberNotAwaitingCredentials", {
    memberGuid: Schema.String,
    reason: Schema.Literal("Aggregating", "NotAsked", "UpdateInProgress", "RunActive"),
    message: Schema.String
  })
{}

/**
 * Whether MX still asks for new credentials: a status that calls for them (`NextAction`'s
 * `UpdateCredentials`) with no aggregation running.
 */
const asksForCredentials = (status: Member.MemberStatus): boolean =>
  status.is_being_aggregated === false && NextAction.decide(status)._tag === "UpdateCredentials"

const readSpacing = Duration.toMillis(AggregationPolicy.minimumPollInterval)

/** Waits until MX's 3 s have passed since the worker's last read of the member (at most 3 s). */
const awaitReadSpacing = (memberGuid: Member.MemberGuid) =>
  Effect.gen(function*() {
    const member = yield* Effect.flatMap(TrackedMembers.TrackedMembers, (tracked) => tracked.get(memberGuid))
    const lastReadAt = Option.getOrNull(Option.flatMap(member, (m) => Option.fromNullable(m.lastReadAt)))
    if (lastReadAt === null) return
    const wait = Math.min(readSpacing, lastReadAt + readSpacing - (yield* Clock.currentTimeMillis))
    if (wait > 0) yield* Effect.sleep(Duration.millis(wait + 1))
  })

/** Why a credential update could not hold the member: a run follows it, or another update holds it. */
const memberHeld = (memberGuid: Member.MemberGuid) =>
  Effect.flatMap(Effect.flatMap(TrackedMembers.TrackedMembers, (tracked) => tracked.get(memberGuid)), (member) => {
    const runId = Option.getOrNull(Option.flatMap(member, (m) => Option.fromNullable(m.activeRunId)))
    return Effect.fail(
      runId !== null
        ? new MemberNotAwaitingCredentials({
          memberGuid,
          reason: "RunActive",
          message:
            `Member ${memberGuid} is being followed at MX (run ${runId}): new credentials are taken once MX asks for them`
        })
        : new MemberNotAwaitingCredentials({
          memberGuid,
          reason: "UpdateInProgress",
          message: `New credentials for member ${memberGuid} are being submitted already`
        })
    )
  })

/** See `Aggregations.Service["updateCredentials"]`. */
const updateCredentials = (
  runs: Starter,
  memberGuid: Member.MemberGuid,
  input: {
    readonly values: ReadonlyArray<Member.CredentialValue>
    readonly purpose?: CredentialUpdate.Purpose | undefined
    readonly aggregateLater?: boolean | undefined
  }
): Effect.Effect<
  { readonly plan: CredentialUpdate.Plan; readonly run: Started | null },
  | MemberNotTracked
  | MemberNotAwaitingCredentials
  | CredentialUpdate.CredentialUpdateRejected
  | MxApiError.MxApiError
  | StoreError.StoreError,
  Requirements
> =>
  Effect.gen(function*() {
    const config = yield* EngineConfig
    const tracked = yield* TrackedMembers.TrackedMembers
    const mx = yield* MxClient.MxClient
    const claimMillis = SubmissionClaim.claimMillis(config)
    const withinClaim = SubmissionClaim.withinClaim(config)
    const member = yield* tracked.get(memberGuid)
    if (Option.isNone(member) || !member.value.tracked) return yield* new MemberNotTracked({ memberGuid })
    const ref = { userGuid: member.value.userGuid, memberGuid }
    // The guide: always request the member's own required credentials before updating them.
    const memberCredentials = yield* Stream.runCollect(mx.listMemberCredentials(ref))
    // No read of the member at MX for a missing institution code: the plan needs the institution only
    // to compare with `otherMembers`, whose credential values the worker never holds (MX refuses a
    // duplicate with a 409, mapped below).
    const institutionCode = member.value.institutionCode ?? Member.InstitutionCode.make("unknown")
    const plan = yield* CredentialUpdate.plan({
      member: { guid: memberGuid, user_guid: ref.userGuid, institution_code: institutionCode },
      memberCredentials: [...memberCredentials],
      values: input.values,
      purpose: input.purpose,
      aggregateLater: input.aggregateLater
    })
    // Hold the member: no other update (through this replica or another) and no run until the
    // update's own run follows MX, so that one submission alone reads and updates the member.
    const owner = `credentials-${randomUUID()}`
    const hold = Effect.flatMap(
      Clock.currentTimeMillis,
      (at) => tracked.claimCredentialUpdate(memberGuid, owner, at + claimMillis)
    )
    const release = tracked.releaseCredentialUpdate(memberGuid, owner)
    if (!(yield* hold)) return yield* memberHeld(memberGuid)
    // What MX says now: an earlier submission may have reached it (its response lost), and a second
    // update would start a second aggregation. The read keeps MX's 3 s from every other read.
    yield* awaitReadSpacing(memberGuid)
    if (!(yield* hold)) return yield* memberHeld(memberGuid)
    const status = yield* withinClaim("readMemberStatus", mx.readMemberStatus(ref)).pipe(
      Effect.tapError(() => release)
    )
    yield* tracked.recordRead(memberGuid, yield* Clock.currentTimeMillis)
    yield* StatusObservations.record({
      memberGuid,
      userGuid: ref.userGuid,
      runId: null,
      status: status.connection_status,
      isBeingAggregated: status.is_being_aggregated
    })
    if (!asksForCredentials(status)) {
      // Follow the member instead (its first read 3 s after this one); the claim passes to the run. No
      // update was sent, so none started an aggregation (said explicitly: the policy's default for a
      // `CredentialsUpdated` run is that its update did).
      const run = yield* runs.start(memberGuid, "CredentialsUpdated", {
        userPresent: false,
        credentialUpdateStartedAggregation: false
      }, owner).pipe(
        Effect.ensuring(Effect.ignore(release))
      )
      yield* Effect.logInfo("new credentials not sent: MX no longer asks for them").pipe(
        Effect.annotateLogs({
          memberGuid,
          connectionStatus: status.connection_status,
          isBeingAggregated: status.is_being_aggregated
        })
      )
      return yield* new MemberNotAwaitingCredentials({
        memberGuid,
        // MX not saying whether it aggregates counts as aggregating, as in the domain's rules.
        reason: status.is_being_aggregated !== false ? "Aggregating" : "NotAsked",
        message: `MX no longer asks for new credentials for member ${memberGuid} (connection_status ${
          status.connection_status ?? "null"
        }${
          status.is_being_aggregated === true
            ? ", being aggregated"
            : status.is_being_aggregated === null
            ? ", perhaps being aggregated"
            : ""
        }): they were not sent; ${
          run._tag === "Started" || run.runId !== null
            ? `run ${run.runId} follows the member`
            : "the member is followed"
        }`
      })
    }
    if (!(yield* hold)) return yield* memberHeld(memberGuid)
    // Should this replica die with MX's answer on its way, the scheduler follows the member once the
    // claim lapses; a refusal or an update without aggregation puts the schedule back.
    const dueBefore = member.value.nextDueAt
    yield* tracked.setNextDue(memberGuid, (yield* Clock.currentTimeMillis) + claimMillis)
    const putBack = Effect.zipRight(tracked.setNextDue(memberGuid, dueBefore), release)
    yield* withinClaim(
      "updateMember",
      mx.updateMember({ ...ref, credentials: plan.credentials, skipAggregation: plan.skipAggregation })
    ).pipe(
      Effect.tapError((error) => SubmissionClaim.mxDidNotAct(error) ? Effect.asVoid(putBack) : Effect.void),
      Effect.catchIf(
        (error) => error.reason === "Conflict",
        () => Effect.fail(new CredentialUpdate.CredentialUpdateRejected({ reason: "DuplicateMember" }))
      )
    )
    yield* Effect.logInfo("member credentials updated").pipe(
      Effect.annotateLogs({ memberGuid, mxStartsAggregation: plan.mxStartsAggregation })
    )
    if (!plan.mxStartsAggregation) {
      yield* putBack
      return { plan, run: null }
    }
    const run = yield* runs.start(memberGuid, "CredentialsUpdated", {
      credentialUpdateStartedAggregation: true,
      userPresent: true
    }, owner).pipe(Effect.ensuring(Effect.ignore(release)))
    return { plan, run }
  })

/** What submitting credentials needs. */
type Requirements =
  | EngineConfig
  | MxClient.MxClient
  | SqlClient.SqlClient
  | AggregationRuns.AggregationRuns
  | TrackedMembers.TrackedMembers
  | Outbox.Outbox
  | PendingChallenges.PendingChallenges

/**
 * Submitting new credentials (`Aggregations.updateCredentials`), following the member with `runs`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (runs: Starter) =>
  Effect.map(
    Effect.context<Requirements>(),
    (context) => (memberGuid: Member.MemberGuid, input: Parameters<typeof updateCredentials>[2]) =>
      updateCredentials(runs, memberGuid, input).pipe(Effect.provide(context))
  )
