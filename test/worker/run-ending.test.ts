/**
 * A run ends once. Recovery (after a restart, and after every discovery pass) reads each claimed run
 * and ends those whose workflow died; it decides from a reading that may be stale by the time it acts.
 * Here the worker is held at the exact point of that interleaving: recovery has read the run as
 * unfinished, then the run's workflow finishes the run (a DENIED member: credentials required), then
 * recovery finds the workflow complete. The late ending must change nothing: the member still waits
 * for new credentials, the partner is told once, and no second run starts.
 *
 * This is how a DENIED member got two runs after a worker was killed (crash-recovery) and two
 * credential-update aggregations in the reliability trials: recovery's ending made the member due at
 * once, a new run found it DENIED again and asked the user for credentials a second time.
 */
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, Outbox, PendingChallenges, Store, StoreError, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations, AggregationWorkflow } from "@mx-aggregation/worker"
import { Deferred, Duration, Effect, Either, Fiber, Layer, Option, Redacted } from "effect"
import { ended, eventually, harness, newMember } from "./harness.js"

/**
 * The store, with `AggregationRuns.get` able to hold its caller: once armed for a run, the first read
 * of that run while it is unfinished signals `held` and returns only when `proceed` is done.
 */
const makeGate = Effect.gen(function*() {
  const held = yield* Deferred.make<void>()
  const proceed = yield* Deferred.make<void>()
  let armedFor: AggregationRuns.RunId | null = null
  const store = Layer.effect(
    AggregationRuns.AggregationRuns,
    Effect.map(AggregationRuns.AggregationRuns, (runs) =>
      AggregationRuns.AggregationRuns.of({
        ...runs,
        get: (runId) =>
          Effect.tap(runs.get(runId), (run) => {
            if (armedFor !== runId || Option.isNone(run) || run.value.run.endedAt !== null) return Effect.void
            armedFor = null
            return Effect.zipRight(Deferred.succeed(held, void 0), Deferred.await(proceed))
          })
      }))
  ).pipe(Layer.provideMerge(Store.layer))
  return {
    store,
    arm: (runId: AggregationRuns.RunId) => Effect.sync(() => (armedFor = runId)),
    held: Deferred.await(held),
    proceed: Deferred.succeed(proceed, void 0)
  }
})

describe("a run ends once", () => {
  it.live(
    "recovery that meets a run finishing leaves its outcome, its member and its event alone",
    () =>
      Effect.gen(function*() {
        const gate = yield* makeGate
        return yield* Effect.gen(function*() {
          const aggregations = yield* Aggregations.Aggregations
          const tracked = yield* TrackedMembers.TrackedMembers
          const runs = yield* AggregationRuns.AggregationRuns
          const outbox = yield* Outbox.Outbox
          const { memberGuid } = yield* newMember("UNAUTHORIZED")
          const started = yield* aggregations.start(memberGuid, "Scheduled")
          assert.strictEqual(started._tag, "Started")
          const runId = started.runId!

          // The run has called aggregate: its workflow reads the run again only once it has ended it.
          yield* eventually(
            "the run called aggregate",
            Effect.map(tracked.get(memberGuid), Option.filter((m) => m.lastAggregateCalledAt !== null))
          )
          yield* gate.arm(runId)
          const recovery = yield* Effect.fork(aggregations.recover)
          yield* gate.held // recovery has read the run as unfinished

          const first = yield* ended(runId)
          assert.strictEqual(first.run.outcome, "credentials_required")
          const executionId = yield* AggregationWorkflow.executionIdOf(runId)
          yield* eventually(
            "the run's workflow is complete",
            Effect.map(
              AggregationWorkflow.AggregationWorkflow.poll(executionId),
              (result) => Option.fromNullable(result?._tag === "Complete" ? result : undefined)
            )
          )
          const before = Option.getOrThrow(yield* tracked.get(memberGuid))
          yield* gate.proceed
          yield* Fiber.join(recovery)

          // The run keeps its outcome and the member what the run recorded: it waits for new credentials.
          const after = Option.getOrThrow(yield* tracked.get(memberGuid))
          assert.strictEqual(after.activeRunId, null)
          assert.strictEqual(after.nextAction, "UpdateCredentials")
          assert.strictEqual(after.needsUserReason, "credentials")
          assert.strictEqual(after.nextDueAt, before.nextDueAt)
          assert.strictEqual(after.consecutiveFailures, before.consecutiveFailures)
          assert.strictEqual(Option.getOrThrow(yield* runs.get(runId)).run.outcome, "credentials_required")
          // The partner was asked for credentials once.
          const events = yield* outbox.listRecent({ memberGuid, type: "credentials_required" })
          assert.strictEqual(events.length, 1)
          // And the scheduler finds nothing to do for the member, now or later: one run in all.
          const due = yield* tracked.listDue(Number.MAX_SAFE_INTEGER, 1_000)
          assert.isFalse(due.some((m) => m.memberGuid === memberGuid), "the member is not due again")
          const all = yield* runs.listByMember(memberGuid as Member.MemberGuid)
          assert.deepStrictEqual(all.map((r) => r.outcome), ["credentials_required"])
        }).pipe(Effect.provide(harness({ store: gate.store })))
      }),
    60_000
  )
})

/**
 * The store, with `PendingChallenges.current` failing once (the worker's database unreachable) when
 * armed: what made a run waiting for MFA answers fail in the reliability trials' database restart.
 */
const makeOutage = Effect.gen(function*() {
  let armed = false
  const failed = yield* Deferred.make<void>()
  const store = Layer.effect(
    PendingChallenges.PendingChallenges,
    Effect.map(PendingChallenges.PendingChallenges, (pending) =>
      PendingChallenges.PendingChallenges.of({
        ...pending,
        current: (memberGuid) =>
          Effect.suspend(() => {
            if (!armed) return pending.current(memberGuid)
            armed = false
            return Effect.zipRight(
              Deferred.succeed(failed, void 0),
              new StoreError.StoreError({
                reason: "QueryFailed",
                operation: "PendingChallenges.current",
                message: "the database is restarting"
              })
            )
          })
      }))
  ).pipe(Layer.provideMerge(Store.layer))
  return { store, arm: Effect.sync(() => (armed = true)), failed: Deferred.await(failed) }
})

describe("a run that ends while it waits for MFA answers", () => {
  it.live(
    "cancels its round: answers sent afterwards are refused, and nothing resumes MX beside the next run",
    () =>
      Effect.gen(function*() {
        const outage = yield* makeOutage
        return yield* Effect.gen(function*() {
          const aggregations = yield* Aggregations.Aggregations
          const pending = yield* PendingChallenges.PendingChallenges
          const tracked = yield* TrackedMembers.TrackedMembers
          const sandbox = yield* Sandbox.Sandbox
          const { memberGuid } = yield* newMember("challenge")
          const started = yield* aggregations.start(memberGuid, "Scheduled")
          assert.strictEqual(started._tag, "Started")
          const runId = started.runId!
          const round = yield* eventually("the run waits for answers", pending.current(memberGuid))

          // The run's next check of the challenge meets the database down: the run ends as failed.
          yield* outage.arm
          yield* outage.failed
          const { run } = yield* ended(runId)
          assert.strictEqual(run.outcome, "failed")
          assert.include(run.failureReason ?? "", "StoreError")

          // Its round ended with it: nobody waits on it.
          assert.isTrue(Option.isNone(yield* pending.current(memberGuid)), "no open round")
          const rounds = yield* pending.listByMember(memberGuid)
          assert.deepStrictEqual(rounds.map((r) => [r.id, r.resolution]), [[round.id, "cancelled"]])
          const member = Option.getOrThrow(yield* tracked.get(memberGuid))
          assert.strictEqual(member.activeRunId, null)

          // The user's answers come late: refused, and MX is not resumed (the next run asks again).
          const answered = yield* Effect.either(aggregations.answerChallenges(
            memberGuid,
            round.challenges.map((c) => new Member.CredentialValue({ guid: c.guid, value: Redacted.make("correct") }))
          ))
          assert.isTrue(Either.isLeft(answered) && answered.left._tag === "MemberNotWaiting")
          assert.strictEqual((yield* sandbox.stats).byOperation["resumeAggregation"] ?? 0, 0)
        }).pipe(Effect.provide(harness({
          store: outage.store,
          engine: { challengeWatchInterval: Duration.minutes(2), mfaTimeout: Duration.hours(1) }
        })))
      }),
    60_000
  )
})
