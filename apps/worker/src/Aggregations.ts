/**
 * The worker's aggregation operations as one service: start a run for a member (one at a time, across
 * replicas), hand MFA answers to MX and wake the waiting run, take new credentials, react to a user
 * being present and to MX webhooks, refresh all of a user's members, discover members, and recover
 * runs. Each protocol lives in its own module (`RunStart`, `MfaRound`, `CredentialSubmission`,
 * `MxWebhooks`, `RunRecovery`); this one assembles them and puts every operation on MX time.
 *
 * @since 0.1.0
 */
import type { AggregationPolicy, CredentialUpdate, Member } from "@mx-aggregation/domain"
import { type MxApiError, MxClient } from "@mx-aggregation/mx-api"
import type { StoreError } from "@mx-aggregation/store"
import { Context, Effect, Layer } from "effect"
import * as CredentialSubmission from "./CredentialSubmission.js"
import { EngineConfig } from "./EngineConfig.js"
import * as MfaRound from "./MfaRound.js"
import * as MxTime from "./MxTime.js"
import * as MxWebhooks from "./MxWebhooks.js"
import * as RunRecovery from "./RunRecovery.js"
import * as RunStart from "./RunStart.js"
import * as SubmissionClaim from "./SubmissionClaim.js"

/**
 * The member is not waiting for MFA answers (no pending challenge, or it expired).
 *
 * @since 0.1.0
 * @category errors
 */
export const MemberNotWaiting = MfaRound.MemberNotWaiting

/**
 * @since 0.1.0
 * @category errors
 */
export type MemberNotWaiting = MfaRound.MemberNotWaiting

/**
 * The member is not tracked by this worker.
 *
 * @since 0.1.0
 * @category errors
 */
export const MemberNotTracked = RunStart.MemberNotTracked

/**
 * @since 0.1.0
 * @category errors
 */
export type MemberNotTracked = RunStart.MemberNotTracked

/**
 * New credentials were not sent to MX (see `CredentialSubmission.MemberNotAwaitingCredentials`).
 *
 * @since 0.1.0
 * @category errors
 */
export const MemberNotAwaitingCredentials = CredentialSubmission.MemberNotAwaitingCredentials

/**
 * @since 0.1.0
 * @category errors
 */
export type MemberNotAwaitingCredentials = CredentialSubmission.MemberNotAwaitingCredentials

/**
 * How long a submission holds the member or the MFA round (see `SubmissionClaim`).
 *
 * @since 0.1.0
 * @category constants
 */
export const submissionClaim = SubmissionClaim.submissionClaim

/**
 * The MX webhooks that say something about a member the worker follows (see `MxWebhooks`).
 *
 * @since 0.1.0
 * @category constants
 */
export const webhookTypes = MxWebhooks.webhookTypes

/**
 * What a webhook did (see `MxWebhooks`).
 *
 * @since 0.1.0
 * @category models
 */
export type WebhookResult = MxWebhooks.WebhookResult

/**
 * Options of a run.
 *
 * @since 0.1.0
 * @category models
 */
export type StartOptions = RunStart.StartOptions

/**
 * What starting a run did: the run id, or why none started.
 *
 * @since 0.1.0
 * @category models
 */
export type Started = RunStart.Started

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Starts a run unless one is active for the member (here or on another replica) or a credential
   * update holds it. The run reads the member at once, so it is claimed only once MX's 3 s have passed
   * since the worker's last read of the member (a wait of up to 3 s of MX time).
   */
  readonly start: (
    memberGuid: Member.MemberGuid,
    trigger: AggregationPolicy.Trigger,
    options?: StartOptions
  ) => Effect.Effect<Started, StoreError.StoreError | MemberNotTracked>
  /**
   * Validates MFA answers against the member's pending challenges, claims the round (one submission at a
   * time, across replicas), checks that MX still asks that round, resumes the aggregation at MX and wakes
   * the waiting run. When MX no longer asks it (answers that reached MX before, in a submission whose
   * response was lost), nothing is sent: the round is closed as answered, the waiting run woken, and the
   * caller gets `MemberNotWaiting`, as it does when another submission holds the round. A claim is given
   * back when MX refused the resume without acting (the user may submit again) and kept when MX's
   * answer is unknown, until it lapses (`submissionClaim`). The answers go to MX only: never to the
   * journal, the database or a log.
   */
  readonly answerChallenges: (
    memberGuid: Member.MemberGuid,
    answers: ReadonlyArray<Member.CredentialValue>
  ) => Effect.Effect<void, MfaRound.AnswerError>
  /**
   * The user is present (the guide's new session): start a run for each of the user's tracked members,
   * with the user present, so that the policy aggregates those that need it (EXPIRED, REJECTED, stale).
   */
  readonly userPresent: (
    userGuid: Member.UserGuid
  ) => Effect.Effect<
    ReadonlyArray<{ readonly memberGuid: Member.MemberGuid; readonly started: Started }>,
    StoreError.StoreError
  >
  /** Refresh all of a user's members (MX has no such endpoint): a manual run per tracked member. */
  readonly aggregateUser: (
    userGuid: Member.UserGuid
  ) => Effect.Effect<
    ReadonlyArray<{ readonly memberGuid: Member.MemberGuid; readonly started: Started }>,
    StoreError.StoreError
  >
  /**
   * New credentials for a member (DENIED, PREVENTED, IMPAIRED, IMPORTED): lists the member's own
   * credentials first, plans the update (`CredentialUpdate.plan`), holds the member (one update at a
   * time and no run meanwhile, across replicas), reads its status at MX (3 s after any other read), and
   * updates the member at MX (never deletes and recreates it) only while MX still asks for credentials;
   * when MX starts an aggregation by itself, follows it with a run that never calls aggregate (its first
   * read 3 s after the status read). When MX is aggregating or no longer asks for credentials (an
   * earlier submission reached it, its response lost) nothing is sent: the caller gets
   * `MemberNotAwaitingCredentials` and a run follows the member. The values go to MX only.
   */
  readonly updateCredentials: (
    memberGuid: Member.MemberGuid,
    input: {
      readonly values: ReadonlyArray<Member.CredentialValue>
      readonly purpose?: CredentialUpdate.Purpose | undefined
      readonly aggregateLater?: boolean | undefined
    }
  ) => Effect.Effect<
    { readonly plan: CredentialUpdate.Plan; readonly run: Started | null },
    | MemberNotTracked
    | MemberNotAwaitingCredentials
    | CredentialUpdate.CredentialUpdateRejected
    | MxApiError.MxApiError
    | StoreError.StoreError
  >
  /**
   * An MX webhook (CONNECTION_STATUS or member_data_updated) about a member, as a hint: wakes its
   * polling run, or starts a `Webhook` run when none is active, which reads MX and pulls what MX has
   * and the worker has not, but never calls aggregate (`AggregationPolicy.evaluate`). At most one per
   * member within `EngineConfig.webhookDebounce` (MX time), across replicas (`WebhookHints`). Unknown
   * members and payload types are ignored, with nothing written. Harmless when duplicated, reordered
   * or forged: runs read MX themselves.
   */
  readonly webhook: (input: {
    readonly type: string
    readonly memberGuid: Member.MemberGuid
  }) => Effect.Effect<WebhookResult, StoreError.StoreError>
  /** Lists a user's members at MX and tracks them (new ones are due at once). */
  readonly discover: (userGuid: Member.UserGuid) => Effect.Effect<number, StoreError.StoreError | MxApiError.MxApiError>
  /**
   * Ends runs that made no progress for `staleRunAfter` (e.g. a workflow left waiting for an activity
   * result the cluster gave up delivering during a database outage): interrupts the workflow, records
   * the run as failed and frees the member for a new run. Returns how many were reaped.
   */
  readonly reapStale: Effect.Effect<number, StoreError.StoreError>
  /** Re-executes claimed runs whose workflow may never have started (idempotent by run id). */
  readonly recover: Effect.Effect<number, StoreError.StoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Aggregations extends Context.Tag("@mx-aggregation/worker/Aggregations")<Aggregations, Service>() {}
/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const config = yield* EngineConfig
  const runs = yield* RunStart.make
  const answerChallenges = yield* MfaRound.makeAnswering
  const updateCredentials = yield* CredentialSubmission.make(runs)
  const webhook = yield* MxWebhooks.make(runs)
  const { reapStale, recover } = yield* RunRecovery.make(runs)
  // Every operation on MX time: the store's times, the claims' expiries and the spacing of reads.
  return Aggregations.of(MxTime.service(
    config.mxClock,
    {
      start: (memberGuid, trigger, options) => runs.start(memberGuid, trigger, options),
      // A user waits on these, under a claim's deadline (and MX's MFA timeout): their MX calls go ahead
      // of the runs' routine ones waiting for the rate limit.
      answerChallenges: (memberGuid, answers) => MxClient.urgent(answerChallenges(memberGuid, answers)),
      updateCredentials: (memberGuid, input) => MxClient.urgent(updateCredentials(memberGuid, input)),
      userPresent: (userGuid) => runs.forUser(userGuid, "UserPresent"),
      aggregateUser: (userGuid) => runs.forUser(userGuid, "Manual"),
      discover: runs.discover,
      webhook,
      reapStale,
      recover
    } satisfies Service
  ))
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.effect(Aggregations, make)
