/**
 * The worker's aggregation operations: start a run for a member (one at a time, across replicas),
 * hand MFA answers to MX and wake the waiting run, react to a user being present, refresh all of a
 * user's members, and restart runs that were claimed but never started.
 *
 * @since 0.1.0
 */
import { ClusterSchema, EntityAddress, EntityId, EntityType, MessageStorage, Sharding } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { DurableDeferred, WorkflowEngine } from "@effect/workflow"
import type { ConnectionStatus } from "@mx-aggregation/domain"
import { AggregationPolicy, CredentialUpdate, Member, Mfa, NextAction } from "@mx-aggregation/domain"
import { MxApiError, MxClient } from "@mx-aggregation/mx-api"
import {
  AggregationRuns,
  type Outbox,
  PendingChallenges,
  type StoreError,
  TrackedMembers,
  Transaction,
  WebhookHints
} from "@mx-aggregation/store"
import { Clock, Context, Duration, Effect, Layer, Option, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import {
  AggregationWorkflow,
  challengeAnswered,
  executionIdOf,
  reasonOf,
  type RunPayload
} from "./AggregationWorkflow.js"
import * as EngineConfig from "./EngineConfig.js"
import * as Metrics from "./Metrics.js"
import * as MxTime from "./MxTime.js"
import * as RunEnd from "./RunEnd.js"
import * as RunWakeups from "./RunWakeups.js"
import * as StatusObservations from "./StatusObservations.js"

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
 * The member is not tracked by this worker.
 *
 * @since 0.1.0
 * @category errors
 */
export class MemberNotTracked extends Schema.TaggedError<MemberNotTracked>()("MemberNotTracked", {
  memberGuid: Schema.String
}) {
  override get message(): string {
    return `Member ${this.memberGuid} is not tracked`
  }
}

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
 * How long a submission that acts on a member at MX (new credentials, MFA answers) holds the member or
 * the MFA round, in real time. Another submission takes a claim over only once it lapsed (its replica
 * died, MX's answer unknown), and then first asks MX what became of it. The holder gives each of its
 * MX calls at most half of it, so that they end before anyone may take over.
 *
 * @since 0.1.0
 * @category constants
 */
export const submissionClaim: Duration.Duration = Duration.seconds(10)

/**
 * The MX webhooks that say something about a member the worker follows: CONNECTION_STATUS (`type`)
 * and the aggregation webhook (`action` member_data_updated). Others are received and ignored.
 *
 * @since 0.1.0
 * @category constants
 */
export const webhookTypes: ReadonlySet<string> = new Set(["CONNECTION_STATUS", "member_data_updated"])

/**
 * What a webhook did: woke the member's polling run, started a run, nothing because one was acted on
 * within `EngineConfig.webhookDebounce`, or nothing at all (an unknown member or type, or no poll waiting).
 *
 * @since 0.1.0
 * @category models
 */
export type WebhookResult = "woken" | "started" | "debounced" | "ignored"

/**
 * Options of a run.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  readonly userPresent?: boolean | undefined
  readonly credentialUpdateStartedAggregation?: boolean | undefined
}

/**
 * What starting a run did: the run id, or why none started.
 *
 * @since 0.1.0
 * @category models
 */
export type Started =
  | { readonly _tag: "Started"; readonly runId: AggregationRuns.RunId }
  | { readonly _tag: "AlreadyRunning"; readonly runId: AggregationRuns.RunId | null }

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
  ) => Effect.Effect<
    void,
    | MemberNotWaiting
    | Mfa.InvalidMfaAnswers
    | Mfa.EmptyResume
    | Mfa.MemberNotChallenged
    | MxApiError.MxApiError
    | StoreError.StoreError
  >
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

/** Whether MX asks exactly the round's challenges (the same guids): answers to it can be sent. */
const asksRound = (round: PendingChallenges.PendingChallenge, asked: ReadonlyArray<Member.Challenge>): boolean => {
  const guids = new Set<string>(round.challenges.map((c) => c.guid))
  return asked.length > 0 && asked.length === guids.size && asked.every((c) => guids.has(c.guid))
}

/**
 * Whether MX still asks for new credentials: a status that calls for them (`NextAction`'s
 * `UpdateCredentials`) with no aggregation running.
 */
const asksForCredentials = (status: Member.MemberStatus): boolean =>
  status.is_being_aggregated === false && NextAction.decide(status)._tag === "UpdateCredentials"

/** Whether MX certainly did not act on a failed request: it answered with a refusal (4xx) or 503. */
const mxDidNotAct = (error: MxApiError.MxApiError): boolean =>
  error.status !== undefined && ((error.status >= 400 && error.status < 500) || error.status === 503)

const readSpacing = Duration.toMillis(AggregationPolicy.minimumPollInterval)

const triggerOf = (reason: AggregationRuns.RunReason): AggregationPolicy.Trigger => {
  switch (reason) {
    case "scheduled":
    case "new_member":
      return "Scheduled"
    case "user_present":
      return "UserPresent"
    case "manual":
      return "Manual"
    case "webhook":
      return "Webhook"
    case "credentials_updated":
      return "CredentialsUpdated"
    case "user_acted_at_institution":
      return "UserActedAtInstitution"
  }
}

/** The triggers that stand for the end user: the run has the user present. */
const userTrigger = (trigger: AggregationPolicy.Trigger): boolean =>
  trigger === "UserPresent" || trigger === "UserActedAtInstitution"

/** The entity of @effect/cluster's workflow engine that holds workflows' durable sleeps. */
const durableClockEntityType = "Workflow/-/DurableClock"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const config = yield* EngineConfig.EngineConfig
  const sql = yield* SqlClient.SqlClient
  const tracked = yield* TrackedMembers.TrackedMembers
  const runs = yield* AggregationRuns.AggregationRuns
  const pending = yield* PendingChallenges.PendingChallenges
  const hints = yield* WebhookHints.WebhookHints
  const mx = yield* MxClient.MxClient
  const wakeRun = yield* RunWakeups.makeWaker
  const context = yield* Effect.context<WorkflowEngine.WorkflowEngine>()
  const sharding = yield* Sharding.Sharding
  const messages = yield* MessageStorage.MessageStorage
  const store = yield* Effect.context<
    | SqlClient.SqlClient
    | AggregationRuns.AggregationRuns
    | TrackedMembers.TrackedMembers
    | Outbox.Outbox
    | PendingChallenges.PendingChallenges
  >()

  const transaction = <A, R>(operation: string, effect: Effect.Effect<A, StoreError.StoreError, R>) =>
    Transaction.run(operation, effect).pipe(Effect.provideService(SqlClient.SqlClient, sql))

  const execute = (payload: RunPayload) =>
    AggregationWorkflow.execute(payload, { discard: true }).pipe(Effect.provide(context), Effect.asVoid)

  /** Runs on MX time: the store's times, the claims' expiries and the spacing of reads are MX time. */
  const onMxTime = MxTime.within(config.mxClock)
  /** A submission's claim, in MX time. */
  const claimMillis = Duration.toMillis(submissionClaim) * config.timeScale

  /**
   * An MX call of a claim's holder, bounded by half the claim: when MX has not answered by then, its
   * answer is unknown (a `Transport` failure), and the call ends before the claim may be taken over.
   */
  const withinClaim = <A>(operation: string, call: Effect.Effect<A, MxApiError.MxApiError>) =>
    call.pipe(Effect.timeoutFail({
      duration: Duration.millis(claimMillis / 2),
      onTimeout: () =>
        new MxApiError.MxApiError({
          reason: "Transport",
          operation,
          message: `No answer from MX to ${operation} within ${
            Duration.format(Duration.millis(Duration.toMillis(submissionClaim) / 2))
          }: whether MX acted on it is unknown`
        })
    }))

  /**
   * Claims the member for a new run, together with the run's record (a crash can never leave a member
   * claimed by a run that does not exist), once MX's 3 s have passed since the worker's last read of
   * the member: the run reads it at once. `credentialUpdate`: the credential-update claim that passes
   * to the run. `false` when a run or another credential update holds the member.
   */
  const claimRun = (
    memberGuid: Member.MemberGuid,
    runId: AggregationRuns.RunId,
    trigger: AggregationPolicy.Trigger,
    credentialUpdate: string | undefined
  ) =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < 5; attempt++) {
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* transaction(
          "Aggregations.start",
          Effect.flatMap(
            tracked.claim(memberGuid, runId, { lastReadBefore: now - readSpacing, credentialUpdate }),
            (claimed) =>
              claimed
                ? Effect.as(runs.start({ runId, memberGuid, reason: reasonOf(trigger) }), true)
                : Effect.succeed(false)
          )
        )
        if (claimed) return true
        const current = yield* tracked.get(memberGuid)
        if (Option.isNone(current) || !current.value.tracked || current.value.activeRunId !== null) return false
        const { credentialUpdateBy, credentialUpdateExpiresAt, lastReadAt } = current.value
        if (
          credentialUpdateBy !== null && credentialUpdateBy !== credentialUpdate &&
          (credentialUpdateExpiresAt ?? 0) > now
        ) return false
        // Read too recently: wait out the rest of MX's 3 s (at most 3 s, whatever the stored time says).
        const wait = Math.min(readSpacing, (lastReadAt ?? 0) + readSpacing - now)
        if (wait > 0) yield* Effect.sleep(Duration.millis(wait + 1))
      }
      return false
    })

  const startRun = (
    memberGuid: Member.MemberGuid,
    trigger: AggregationPolicy.Trigger,
    options: StartOptions,
    credentialUpdate: string | undefined
  ) =>
    Effect.gen(function*() {
      const member = yield* tracked.get(memberGuid)
      if (Option.isNone(member)) return yield* new MemberNotTracked({ memberGuid })
      const runId = AggregationRuns.RunId.make(`run-${randomUUID()}`)
      const claimed = yield* claimRun(memberGuid, runId, trigger, credentialUpdate)
      if (!claimed) {
        const current = yield* tracked.get(memberGuid)
        return {
          _tag: "AlreadyRunning",
          runId: Option.getOrNull(Option.flatMap(current, (m) => Option.fromNullable(m.activeRunId)))
        } as const
      }
      const payload: RunPayload = {
        runId,
        memberGuid,
        userGuid: member.value.userGuid,
        trigger,
        userPresent: options.userPresent ?? userTrigger(trigger),
        // Only when known: otherwise the policy follows MX's rule (a `CredentialsUpdated` run's update
        // started an aggregation).
        ...(options.credentialUpdateStartedAggregation === undefined
          ? {}
          : { credentialUpdateStartedAggregation: options.credentialUpdateStartedAggregation })
      }
      yield* execute(payload).pipe(
        Effect.tapErrorCause(() => tracked.release(memberGuid, runId).pipe(Effect.ignore)),
        Effect.orDie
      )
      yield* Metrics.runStarted(trigger)
      yield* Effect.logDebug("run started").pipe(Effect.annotateLogs({ memberGuid, runId, trigger }))
      return { _tag: "Started", runId } as const
    })

  const start: Service["start"] = (memberGuid, trigger, options = {}) =>
    onMxTime(startRun(memberGuid, trigger, options, undefined))

  /**
   * Closes the round as answered and wakes the run waiting on it, unless the round was closed meanwhile
   * (the run saw MX move on, or stored MX's next round): then that run has moved on already, and a newer
   * round must stay open.
   */
  const closeAnswered = (round: PendingChallenges.PendingChallenge) =>
    Effect.gen(function*() {
      const closed = yield* transaction(
        "Aggregations.answerChallenges",
        Effect.flatMap(pending.current(round.memberGuid), (open) =>
          Option.exists(open, (p) => p.id === round.id)
            ? pending.resolve({ memberGuid: round.memberGuid, runId: round.runId, resolution: "answered" })
            : Effect.succeed(false))
      )
      if (!closed) return
      const executionId = yield* executionIdOf(round.runId)
      const deferred = challengeAnswered(round.id)
      const token = DurableDeferred.tokenFromExecutionId(deferred, { workflow: AggregationWorkflow, executionId })
      yield* DurableDeferred.succeed(deferred, { token, value: void 0 }).pipe(Effect.provide(context))
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

  const answerChallenges: Service["answerChallenges"] = (memberGuid, answers) =>
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
          mxDidNotAct(error)
            ? Effect.asVoid(release)
            : Effect.logWarning("MX's answer to the resume is unknown: the round stays claimed until it lapses").pipe(
              Effect.annotateLogs({ memberGuid, reason: error.reason })
            )
        )
      )
      yield* closeAnswered(round)
      yield* Effect.logInfo("MFA answers sent; run resumed").pipe(Effect.annotateLogs({ memberGuid }))
    }).pipe(onMxTime)

  const forUser = (userGuid: Member.UserGuid, trigger: AggregationPolicy.Trigger) =>
    Effect.gen(function*() {
      const members = yield* tracked.list({ userGuid })
      return yield* Effect.forEach(members, (m) =>
        start(m.memberGuid, trigger, { userPresent: userTrigger(trigger) }).pipe(
          Effect.catchTag("MemberNotTracked", () =>
            Effect.succeed({ _tag: "AlreadyRunning", runId: null } as const)),
          Effect.map((started) => ({ memberGuid: m.memberGuid, started }))
        ))
    })

  /** Waits until MX's 3 s have passed since the worker's last read of the member (at most 3 s). */
  const awaitReadSpacing = (memberGuid: Member.MemberGuid) =>
    Effect.gen(function*() {
      const member = yield* tracked.get(memberGuid)
      const lastReadAt = Option.getOrNull(Option.flatMap(member, (m) => Option.fromNullable(m.lastReadAt)))
      if (lastReadAt === null) return
      const wait = Math.min(readSpacing, lastReadAt + readSpacing - (yield* Clock.currentTimeMillis))
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait + 1))
    })

  /** Why a credential update could not hold the member: a run follows it, or another update holds it. */
  const memberHeld = (memberGuid: Member.MemberGuid) =>
    Effect.flatMap(tracked.get(memberGuid), (member) => {
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

  const updateCredentials: Service["updateCredentials"] = (memberGuid, input) =>
    Effect.gen(function*() {
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
      }).pipe(Effect.provide(store))
      if (!asksForCredentials(status)) {
        // Follow the member instead (its first read 3 s after this one); the claim passes to the run. No
        // update was sent, so none started an aggregation (said explicitly: the policy's default for a
        // `CredentialsUpdated` run is that its update did).
        const run = yield* startRun(memberGuid, "CredentialsUpdated", {
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
        Effect.tapError((error) => mxDidNotAct(error) ? Effect.asVoid(putBack) : Effect.void),
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
      const run = yield* startRun(memberGuid, "CredentialsUpdated", {
        credentialUpdateStartedAggregation: true,
        userPresent: true
      }, owner).pipe(Effect.ensuring(Effect.ignore(release)))
      return { plan, run }
    }).pipe(onMxTime)

  const webhook: Service["webhook"] = ({ memberGuid, type }) =>
    Effect.gen(function*() {
      if (!webhookTypes.has(type)) return "ignored" as const
      const member = yield* tracked.get(memberGuid)
      if (Option.isNone(member) || !member.value.tracked) return "ignored" as const
      if (!(yield* hints.accept(memberGuid, yield* Clock.currentTimeMillis, config.webhookDebounce))) {
        return "debounced" as const
      }
      if (member.value.activeRunId !== null) {
        return (yield* wakeRun(member.value.activeRunId, memberGuid)) ? "woken" as const : "ignored" as const
      }
      const started = yield* startRun(memberGuid, "Webhook", {}, undefined).pipe(
        Effect.catchTag("MemberNotTracked", () => Effect.succeed(null))
      )
      return started?._tag === "Started" ? "started" as const : "ignored" as const
    }).pipe(onMxTime)

  const discover: Service["discover"] = (userGuid) =>
    Effect.gen(function*() {
      const members = yield* Stream.runCollect(mx.listMembers({ userGuid }))
      const now = yield* Clock.currentTimeMillis
      const known = new Set((yield* tracked.list({ userGuid, tracked: "all" })).map((m) => m.memberGuid as string))
      const fresh = [...members].filter((m) => !known.has(m.guid))
      yield* tracked.trackMany(fresh.map((m) => ({
        memberGuid: m.guid,
        userGuid,
        institutionCode: m.institution_code ?? null,
        nextDueAt: now
      })))
      return fresh.length
    })

  /**
   * Ends a run that will not end by itself (stopped, or its workflow died): recorded as failed, the
   * member released and due again. `countFailure`: the failure counts towards the policy's backoff (a
   * run that made no progress); a workflow the engine lost is no sign of trouble at MX. `false`, with
   * nothing changed, when the run ended meanwhile (its workflow finished it since recovery read it).
   */
  const abandon = (
    memberGuid: Member.MemberGuid,
    runId: AggregationRuns.RunId,
    failureReason: string,
    countFailure: boolean
  ) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      RunEnd.endRun({
        runId,
        memberGuid,
        outcome: "failed",
        failureReason,
        member: { nextAction: null, userAction: null, needsUserReason: null, nextDueAt: now, failed: countFailure },
        event: null
      })).pipe(Effect.provide(store))

  /** A run whose member the worker has not read for this long (MX time) has stalled. */
  const stalledAfter = Duration.toMillis(Duration.times(
    Duration.max(config.challengeWatchInterval, Duration.decode(config.polling.cap ?? "30 seconds")),
    20
  ))

  /** Makes the unprocessed messages of a run's workflow (and of its durable clock) unread. */
  const redeliver = (executionId: string) => {
    const entityId = EntityId.make(executionId)
    const shardId = sharding.getShardId(
      entityId,
      Context.get(AggregationWorkflow.annotations, ClusterSchema.ShardGroup)(entityId)
    )
    return Effect.forEach(
      [`Workflow/${AggregationWorkflow.name}`, durableClockEntityType],
      (entityType) =>
        messages.resetAddress(
          new EntityAddress.EntityAddress({ entityType: EntityType.EntityType.make(entityType), entityId, shardId })
        ),
      { discard: true }
    ).pipe(Effect.catchAll((error) => Effect.logWarning("could not deliver a stalled run's messages again", error)))
  }

  const recover: Service["recover"] = Effect.gen(function*() {
    const active = yield* tracked.listActive
    const now = yield* Clock.currentTimeMillis
    let restarted = 0
    for (const member of active) {
      if (member.activeRunId === null) continue
      const run = yield* runs.get(member.activeRunId)
      if (Option.isNone(run)) {
        // Claimed by a run that was never recorded (a database from before claims and runs were
        // written together): free the member.
        yield* tracked.release(member.memberGuid, member.activeRunId)
        continue
      }
      if (run.value.run.endedAt !== null) {
        yield* tracked.release(member.memberGuid, member.activeRunId)
        continue
      }
      const executionId = yield* executionIdOf(member.activeRunId)
      const result = yield* AggregationWorkflow.poll(executionId).pipe(Effect.provide(context))
      if (result?._tag === "Complete") {
        // The workflow ended without ending its run: it died in the engine (e.g. a journal write that
        // failed), which the run's own failure handling never sees. Starting it again would only
        // return that result.
        const ended = yield* abandon(
          member.memberGuid,
          member.activeRunId,
          "the run's workflow ended without finishing the run (it died in the workflow engine)",
          false
        )
        // Not ended here: its workflow finished the run since it was read above.
        if (ended) {
          yield* Effect.logWarning("run whose workflow died ended as failed; the member is due again").pipe(
            Effect.annotateLogs({ memberGuid: member.memberGuid, runId: member.activeRunId })
          )
        }
        continue
      }
      // Starts the workflow if it never got its first message; does nothing to one that runs.
      yield* execute({
        runId: member.activeRunId,
        memberGuid: member.memberGuid,
        userGuid: member.userGuid,
        trigger: triggerOf(run.value.run.reason),
        userPresent: userTrigger(triggerOf(run.value.run.reason))
        // credentialUpdateStartedAggregation left out: unknown here (the policy follows MX's rule).
      }).pipe(Effect.orDie)
      // A workflow whose member nobody has read for a long time has stalled. The engine marks a message
      // read when it fetches it and leaves it alone for 10 minutes, so a message whose fetch was cut off
      // (a database outage) waits that long: its workflow's messages are made unread (an entity already
      // handling one ignores the copy). A suspended one missed its wake-up (a timer or an answer whose
      // delivery the engine lost): resumed from its journal.
      const lastActivity = Math.max(member.lastReadAt ?? 0, member.claimedAt ?? 0)
      if (now - lastActivity > stalledAfter) {
        yield* redeliver(executionId)
        if (result?._tag === "Suspended") {
          yield* WorkflowEngine.WorkflowEngine.pipe(
            Effect.flatMap((engine) => engine.resume(AggregationWorkflow, executionId)),
            Effect.provide(context)
          )
        }
        yield* Effect.logWarning("stalled run: its messages delivered again").pipe(
          Effect.annotateLogs({
            memberGuid: member.memberGuid,
            runId: member.activeRunId,
            workflow: result?._tag ?? "Running"
          })
        )
      }
      restarted++
    }
    return restarted
  })

  const reapStale: Service["reapStale"] = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const staleAfter = Duration.toMillis(config.staleRunAfter)
    let reaped = 0
    for (const member of yield* tracked.listActive) {
      const runId = member.activeRunId
      if (runId === null || member.claimedAt === null || now - member.claimedAt < staleAfter) continue
      const executionId = yield* executionIdOf(runId)
      yield* AggregationWorkflow.interrupt(executionId).pipe(
        Effect.provide(context),
        Effect.timeout("10 seconds"),
        Effect.ignore
      )
      const ended = yield* abandon(
        member.memberGuid,
        runId,
        `the run made no progress for ${Duration.format(config.staleRunAfter)}; it was stopped`,
        true
      )
      if (!ended) continue
      yield* Effect.logWarning("stale run stopped; the member is due again").pipe(
        Effect.annotateLogs({ memberGuid: member.memberGuid, runId })
      )
      reaped++
    }
    return reaped
  })

  return Aggregations.of({
    reapStale,
    start,
    // A user waits on these, under a claim's deadline (and MX's MFA timeout): their MX calls go ahead
    // of the runs' routine ones waiting for the rate limit.
    answerChallenges: (memberGuid, answers) => MxClient.urgent(answerChallenges(memberGuid, answers)),
    userPresent: (userGuid) => forUser(userGuid, "UserPresent"),
    aggregateUser: (userGuid) => forUser(userGuid, "Manual"),
    discover,
    updateCredentials: (memberGuid, input) => MxClient.urgent(updateCredentials(memberGuid, input)),
    webhook,
    recover
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.effect(Aggregations, make)
