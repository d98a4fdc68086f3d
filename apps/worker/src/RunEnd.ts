/**
 * Ending a run: its outcome, what the member needs next, the partner's event and the member's release,
 * in one SQL transaction that only the first ending of a run commits.
 *
 * A run can be ended from two places at once: its workflow's last step, and the worker's recovery
 * (a run whose workflow died, or that made no progress). Recovery decides from a reading of the
 * database that may be stale by the time it acts: the run may have ended meanwhile. Written as
 * separate statements, the late ending kept the run's outcome (a run ends once) but overwrote the
 * member's schedule and next action, so that a DENIED member became due at once and was aggregated a
 * second time. A crash in the middle of the last step, too, left a run ended with its member neither
 * told what to do nor released. Here an ending is all or nothing, and a second ending changes nothing.
 *
 * @since 0.1.0
 */
import type { Member } from "@mx-aggregation/domain"
import { AggregationRuns, Outbox, PendingChallenges, TrackedMembers, Transaction } from "@mx-aggregation/store"
import { Effect } from "effect"

/**
 * How a run ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunEnding {
  readonly runId: AggregationRuns.RunId
  readonly memberGuid: Member.MemberGuid
  readonly outcome: AggregationRuns.RunOutcome
  readonly failureReason: string | null
  /** What the member needs next (its schedule, next action, whether the user is needed). */
  readonly member: Omit<TrackedMembers.OutcomeInput, "memberGuid">
  /** The partner's event, if any. */
  readonly event: Omit<Outbox.AppendInput, "memberGuid"> | null
}

/**
 * Ends the run, cancels the MFA round it still waited on, records what its member needs next, appends
 * the partner's event and releases the member, all in one transaction. `false`, with nothing changed, when the run had ended already.
 *
 * @since 0.1.0
 * @category operations
 */
export const endRun = (ending: RunEnding) =>
  Transaction.run(
    "RunEnd.endRun",
    Effect.gen(function*() {
      const runs = yield* AggregationRuns.AggregationRuns
      const tracked = yield* TrackedMembers.TrackedMembers
      const outbox = yield* Outbox.Outbox
      const pending = yield* PendingChallenges.PendingChallenges
      const ended = yield* runs.finish({
        runId: ending.runId,
        outcome: ending.outcome,
        failureReason: ending.failureReason
      })
      if (!ended) return false
      // A round the run still waited on (it failed, or recovery ended it) is nobody's now: answers to it
      // would resume MX beside the member's next run. That run asks again if MX still does.
      yield* pending.resolve({ memberGuid: ending.memberGuid, runId: ending.runId, resolution: "cancelled" })
      yield* tracked.recordOutcome({ memberGuid: ending.memberGuid, ...ending.member })
      if (ending.event !== null) yield* outbox.append({ memberGuid: ending.memberGuid, ...ending.event })
      yield* tracked.release(ending.memberGuid, ending.runId)
      return true
    })
  )
