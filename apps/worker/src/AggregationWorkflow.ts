/**
 * One aggregation of one member as a durable workflow: observe -> `AggregationPolicy.evaluate` ->
 * aggregate or follow MX's own aggregation -> poll until settled -> act on NextAction: wait durably for
 * MFA answers and poll again (several rounds), pull accounts and transactions on success, or record
 * what the user must do. Every step with effects is an Activity (`RunSteps`, `MfaRound`), journaled in
 * SQL: a crash at any point resumes from the journal, and no completed step runs twice. How a run ends
 * is the domain's (`RunOutcome`); this module only orders the steps.
 *
 * MFA answers never enter the journal: the control API validates them, sends them to MX's resume
 * endpoint itself and then signals the round (`MfaRound`) with no value. The workflow only learns that
 * the member was resumed.
 *
 * @since 0.1.0
 */
import { NextAction, RunOutcome } from "@mx-aggregation/domain"
import { Effect } from "effect"
import * as MfaRound from "./MfaRound.js"
import { databaseFailed } from "./RunActivity.js"
import * as RunSteps from "./RunSteps.js"
import { AggregationWorkflow, type RunPayload } from "./RunWorkflow.js"

export {
  /**
   * The errors an activity may end with after its retries.
   *
   * @since 0.1.0
   * @category errors
   */
  ActivityError,
  /**
   * The aggregation workflow (see `RunWorkflow`).
   *
   * @since 0.1.0
   * @category workflows
   */
  AggregationWorkflow,
  /**
   * The execution id of a run.
   *
   * @since 0.1.0
   * @category workflows
   */
  executionIdOf,
  /**
   * What starts a run.
   *
   * @since 0.1.0
   * @category models
   */
  RunPayload,
  /**
   * How a run ended.
   *
   * @since 0.1.0
   * @category models
   */
  RunResult
} from "./RunWorkflow.js"

/** The run after the member settled: MFA rounds, then the outcome. */
const settle = (payload: RunPayload, firstRound: number, startWithChallenge: NextAction.Observation | null) =>
  Effect.gen(function*() {
    let round = firstRound
    let observed = startWithChallenge ?? (yield* RunSteps.pollUntilSettled(payload, round))
    while (true) {
      // KeepPolling means the polling deadline passed while MX was still aggregating (or still reported
      // a status the domain does not know): `NextAction.isSettled` is exactly "decide is not KeepPolling".
      const action = NextAction.decide(observed)
      if (action._tag !== "AnswerChallenges") {
        if (action._tag === "PullData") {
          yield* RunSteps.pullData(payload)
        }
        return yield* RunSteps.finishWith(payload, RunOutcome.endingFor(observed, action))
      }
      const { pendingId } = yield* MfaRound.storeChallenges(payload, round)
      if (pendingId !== null) {
        const answered = yield* MfaRound.awaitAnswers(payload, round, pendingId)
        // The member moved on without our answers (answered elsewhere, or MX's own timeout).
        if (answered === "MovedOn") yield* MfaRound.closeChallenge(payload, round, "superseded")
        if (answered === "TimedOut") {
          yield* MfaRound.closeChallenge(payload, round, "expired")
          return yield* RunSteps.finishWith(payload, RunOutcome.unansweredChallengeEnding)
        }
      }
      round++
      observed = yield* RunSteps.pollUntilSettled(payload, round)
    }
  })

/** The run's steps. */
const run = (payload: RunPayload) =>
  Effect.gen(function*() {
    const { decision, observed } = yield* RunSteps.observeAndDecide(payload)
    switch (decision._tag) {
      case "Aggregate":
        yield* RunSteps.aggregate(payload)
        return yield* settle(payload, 0, null)
      case "FollowAggregation":
        return yield* settle(payload, 0, null)
      case "AnswerChallenges":
        return yield* settle(payload, 0, observed)
      case "PullOnly":
        yield* RunSteps.pullData(payload)
        return yield* RunSteps.finishWith(payload, RunOutcome.pulledOnlyEnding(observed))
      case "NotNow":
      case "NeedsUser":
      case "Stop":
        return yield* RunSteps.finishWith(payload, RunOutcome.decisionEnding(observed, decision))
    }
  })

/**
 * The workflow's implementation. A failure that survives the MX client's and the activities' retries
 * ends the run as `failed` with its reason recorded and a retry scheduled; it never stops the daemon.
 *
 * @since 0.1.0
 * @category layers
 */
export const AggregationWorkflowLive = AggregationWorkflow.toLayer((payload) =>
  run(payload).pipe(
    Effect.catchAll((error) =>
      RunSteps.finishWith(
        payload,
        RunOutcome.failedEnding(`${error._tag}: ${error.message}`, { ownDatabase: databaseFailed(error) })
      ).pipe(Effect.orDie)
    ),
    Effect.annotateLogs({ memberGuid: payload.memberGuid, runId: payload.runId }),
    Effect.withSpan("AggregationWorkflow", { attributes: { runId: payload.runId, memberGuid: payload.memberGuid } })
  )
)
