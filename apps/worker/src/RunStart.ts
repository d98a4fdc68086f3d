/**
 * Starting runs: one run per member at a time, across replicas (a conditional claim written together
 * with the run's record), for a member, for each of a user's members, and discovering a user's members
 * at MX.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import type { WorkflowEngine } from "@effect/workflow"
import { AggregationPolicy, type Member, RunOutcome } from "@mx-aggregation/domain"
import { type MxApiError, MxClient } from "@mx-aggregation/mx-api"
import { AggregationRuns, type StoreError, TrackedMembers, Transaction } from "@mx-aggregation/store"
import { Clock, Duration, Effect, Option, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import * as Metrics from "./Metrics.js"
import { AggregationWorkflow, type RunPayload } from "./RunWorkflow.js"

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
const readSpacing = Duration.toMillis(AggregationPolicy.minimumPollInterval)

/**
 * Starting runs and discovering members.
 *
 * @since 0.1.0
 * @category models
 */
export interface Starter {
  /**
   * Starts a run unless one is active for the member or a credential update other than
   * `credentialUpdate` (the claim that passes to the run) holds it.
   */
  readonly start: (
    memberGuid: Member.MemberGuid,
    trigger: AggregationPolicy.Trigger,
    options?: StartOptions,
    credentialUpdate?: string | undefined
  ) => Effect.Effect<Started, StoreError.StoreError | MemberNotTracked>
  /** A run for each of the user's tracked members. */
  readonly forUser: (
    userGuid: Member.UserGuid,
    trigger: AggregationPolicy.Trigger
  ) => Effect.Effect<
    ReadonlyArray<{ readonly memberGuid: Member.MemberGuid; readonly started: Started }>,
    StoreError.StoreError
  >
  /** Lists a user's members at MX and tracks them (new ones are due at once). */
  readonly discover: (userGuid: Member.UserGuid) => Effect.Effect<number, StoreError.StoreError | MxApiError.MxApiError>
  /** Starts a run's workflow, or does nothing to one that runs already (idempotent by run id). */
  readonly execute: (payload: RunPayload) => Effect.Effect<void, unknown>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tracked = yield* TrackedMembers.TrackedMembers
  const runs = yield* AggregationRuns.AggregationRuns
  const mx = yield* MxClient.MxClient
  const engine = yield* Effect.context<WorkflowEngine.WorkflowEngine>()

  const execute = (payload: RunPayload) =>
    AggregationWorkflow.execute(payload, { discard: true }).pipe(Effect.provide(engine), Effect.asVoid)

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
        const claimed = yield* Transaction.run(
          "Aggregations.start",
          Effect.flatMap(
            tracked.claim(memberGuid, runId, { lastReadBefore: now - readSpacing, credentialUpdate }),
            (claimed) =>
              claimed
                ? Effect.as(runs.start({ runId, memberGuid, reason: RunOutcome.reasonOf(trigger) }), true)
                : Effect.succeed(false)
          )
        ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
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

  const start: Starter["start"] = (memberGuid, trigger, options = {}, credentialUpdate) =>
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
        userPresent: options.userPresent ?? RunOutcome.isUserTrigger(trigger),
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
  const discover: Starter["discover"] = (userGuid) =>
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
  const forUser: Starter["forUser"] = (userGuid, trigger) =>
    Effect.gen(function*() {
      const members = yield* tracked.list({ userGuid })
      return yield* Effect.forEach(members, (m) =>
        start(m.memberGuid, trigger, { userPresent: RunOutcome.isUserTrigger(trigger) }).pipe(
          Effect.catchTag("MemberNotTracked", () =>
            Effect.succeed({ _tag: "AlreadyRunning", runId: null } as const)),
          Effect.map((started) => ({ memberGuid: m.memberGuid, started }))
        ))
    })

  return { start, forUser, discover, execute } satisfies Starter
})
