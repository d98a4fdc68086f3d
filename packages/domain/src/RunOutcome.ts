/**
 * What an aggregation run means: why it started (a `Trigger`, stored as a `RunReason`), how it ended
 * (a `RunOutcome`), what the partner is told (an `EventType`) and what the member needs next. A run's
 * ending is a pure function of what it observed and what it decided (`endingFor`, `decisionEnding`),
 * and when the member is due again a pure function of the ending (`nextDueAt`): the worker only
 * orchestrates MX calls and writes down what these say.
 *
 * @since 0.1.0
 */
import { Duration, Option, Schema } from "effect"
import * as AggregationPolicy from "./AggregationPolicy.js"
import type * as ConnectionStatus from "./ConnectionStatus.js"
import * as NextAction from "./NextAction.js"

/**
 * Why a run started, as stored.
 *
 * @since 0.1.0
 * @category models
 */
export const RunReason = Schema.Literal(
  /** The scheduler found the member due. */
  "scheduled",
  /** The end user is present (MX's "session"): aggregations needing the user may start. */
  "user_present",
  /** An operator or the partner asked for it. */
  "manual",
  /** An MX webhook reported a change. */
  "webhook",
  /** New credentials were submitted (MX started an aggregation by itself). */
  "credentials_updated",
  /** A member just registered or discovered. */
  "new_member",
  /** The end user says they acted at the institution's website after LOCKED or IMPEDED (present too). */
  "user_acted_at_institution"
)

/**
 * @since 0.1.0
 * @category models
 */
export type RunReason = typeof RunReason.Type

/**
 * How a run ended.
 *
 * - `connected`: aggregated and data pulled.
 * - `pulled_only`: MX had aggregated recently; data pulled without calling aggregate.
 * - `skipped`: the policy decided not to aggregate now.
 * - `needs_user_present`: an MFA challenge went unanswered (or the member is EXPIRED): start again when the user is present.
 * - `credentials_required`, `institution_action_required`, `awaiting_oauth`: the end user must act.
 * - `retry_later`: provider trouble; rescheduled with backoff.
 * - `terminal`: aggregation is no longer possible; the member is not scheduled again.
 * - `not_aggregatable`: the member does not aggregate.
 * - `failed`: an unexpected error (see `failureReason`).
 *
 * @since 0.1.0
 * @category models
 */
export const RunOutcome = Schema.Literal(
  "connected",
  "pulled_only",
  "skipped",
  "needs_user_present",
  "credentials_required",
  "institution_action_required",
  "awaiting_oauth",
  "retry_later",
  "terminal",
  "not_aggregatable",
  "failed"
)

/**
 * @since 0.1.0
 * @category models
 */
export type RunOutcome = typeof RunOutcome.Type

/**
 * The kinds of partner event.
 *
 * - `mfa_required`: the member is CHALLENGED; its challenges wait for answers.
 * - `credentials_required`: the end user must enter new credentials (DENIED, PREVENTED, …).
 * - `institution_action_required`: the end user must act at the institution (LOCKED, IMPEDED).
 * - `user_presence_required`: start a new aggregation when the end user is present (EXPIRED, an unanswered MFA).
 * - `oauth_required`: the end user must complete the OAuth window.
 * - `data_updated`: accounts and transactions were pulled.
 * - `retry_scheduled`: provider trouble or an error; the member is retried later.
 * - `stopped`: aggregation is no longer possible; the member is not scheduled again.
 * - `status_unknown`: MX reported a `connection_status` this code does not know (payload: the raw
 *   status); the member is only read again later until MX reports a known one.
 *
 * @since 0.1.0
 * @category models
 */
export const EventType = Schema.Literal(
  "mfa_required",
  "credentials_required",
  "institution_action_required",
  "user_presence_required",
  "oauth_required",
  "data_updated",
  "retry_scheduled",
  "stopped",
  "status_unknown"
)

/**
 * @since 0.1.0
 * @category models
 */
export type EventType = typeof EventType.Type

/**
 * The stored reason of a trigger. `DataUpdated` (the name of earlier versions) is stored as a webhook.
 *
 * @since 0.1.0
 * @category triggers
 */
export const reasonOf = (trigger: AggregationPolicy.Trigger): RunReason => {
  switch (trigger) {
    case "Scheduled":
      return "scheduled"
    case "UserPresent":
      return "user_present"
    case "Manual":
      return "manual"
    case "Webhook":
    case "DataUpdated":
      return "webhook"
    case "CredentialsUpdated":
      return "credentials_updated"
    case "UserActedAtInstitution":
      return "user_acted_at_institution"
  }
}

/**
 * The trigger of a stored reason, to start a run again (recovery): a new member's first run is a
 * scheduled one.
 *
 * @since 0.1.0
 * @category triggers
 */
export const triggerOf = (reason: RunReason): AggregationPolicy.Trigger => {
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

/**
 * Whether a trigger stands for the end user, so that its run has the user present.
 *
 * @since 0.1.0
 * @category triggers
 */
export const isUserTrigger = (trigger: AggregationPolicy.Trigger): boolean =>
  trigger === "UserPresent" || trigger === "UserActedAtInstitution"

/**
 * How a run ends: its outcome, the status it last saw, the member's next action, the partner's event,
 * what the user is needed for, whether it counts as a failure, and when the member is due again (a
 * time, never (`null`), by the policy (`"policy"`, see `nextDueAt`), or at once (`"now"`)).
 *
 * @since 0.1.0
 * @category models
 */
export interface Ending {
  readonly outcome: RunOutcome
  readonly status: ConnectionStatus.NullableReportedStatus
  readonly action: NextAction.NextAction | null
  readonly event: EventType | null
  readonly needsUserReason: string | null
  readonly failed: boolean
  readonly failureReason: string | null
  readonly nextDueAt: number | null | "policy" | "now"
}

/**
 * The ending of a run whose member settled on `action`.
 *
 * @since 0.1.0
 * @category endings
 */
export const endingFor = (observation: NextAction.Observation, action: NextAction.NextAction): Ending => {
  const base = {
    status: observation.connection_status,
    action,
    failed: false,
    failureReason: null,
    needsUserReason: null,
    nextDueAt: "policy" as const
  }
  switch (action._tag) {
    case "PullData":
      return { ...base, outcome: "connected", event: null }
    case "UpdateCredentials":
      return { ...base, outcome: "credentials_required", event: "credentials_required", needsUserReason: "credentials" }
    case "StartNewAggregation":
      return { ...base, outcome: "needs_user_present", event: "user_presence_required", needsUserReason: "presence" }
    case "ActAtInstitution":
      return {
        ...base,
        outcome: "institution_action_required",
        event: "institution_action_required",
        needsUserReason: "institution"
      }
    case "RetryLater":
      return { ...base, outcome: "retry_later", event: "retry_scheduled", failed: true }
    case "CompleteOAuth":
      return { ...base, outcome: "awaiting_oauth", event: "oauth_required", needsUserReason: "oauth" }
    case "StopAggregating":
      return { ...base, outcome: "terminal", event: "stopped" }
    case "NotAggregatable":
      return { ...base, outcome: "not_aggregatable", event: null }
    case "KeepPolling":
      return {
        ...base,
        outcome: "retry_later",
        event: "retry_scheduled",
        failed: true,
        failureReason: "the aggregation did not settle before the polling deadline"
      }
    case "AnswerChallenges":
      return { ...base, outcome: "needs_user_present", event: "user_presence_required", needsUserReason: "presence" }
  }
}

/**
 * The ending of a run the policy decided to end before aggregating (`NotNow`, `NeedsUser`, `Stop`),
 * or that had nothing to do.
 *
 * @since 0.1.0
 * @category endings
 */
export const decisionEnding = (
  observation: NextAction.Observation,
  decision: AggregationPolicy.Decision
): Ending => {
  const action = NextAction.decide(observation)
  switch (decision._tag) {
    case "NotNow":
      return { ...skipped(observation, action), nextDueAt: decision.until }
    case "NeedsUser":
      return {
        ...endingFor(observation, action),
        needsUserReason: decision.need,
        // LOCKED/IMPEDED: due again after the policy's institution back-off (`nextCheckAfter`), when
        // the policy tries again by itself; any other need waits for the user.
        nextDueAt: decision.need === "institution" ? "policy" : null
      }
    case "Stop":
      return { ...endingFor(observation, action), nextDueAt: null }
    default:
      return skipped(observation, action)
  }
}

const skipped = (observation: NextAction.Observation, action: NextAction.NextAction): Ending => ({
  outcome: "skipped",
  status: observation.connection_status,
  action,
  event: null,
  needsUserReason: null,
  failed: false,
  failureReason: null,
  nextDueAt: "policy"
})

/**
 * The ending of a run that pulled data without aggregating (`PullOnly`).
 *
 * @since 0.1.0
 * @category endings
 */
export const pulledOnlyEnding = (observation: NextAction.Observation): Ending => ({
  ...skipped(observation, NextAction.decide(observation)),
  outcome: "pulled_only"
})

/**
 * The ending of a run whose MFA challenge was not answered within the worker's MFA timeout: a new
 * aggregation needs the user present (the member is not scheduled until then).
 *
 * @since 0.1.0
 * @category endings
 */
export const unansweredChallengeEnding: Ending = {
  outcome: "needs_user_present",
  status: "CHALLENGED",
  action: new NextAction.StartNewAggregation({ status: "EXPIRED", userPresenceRequired: true }),
  event: "user_presence_required",
  needsUserReason: "presence",
  failed: false,
  failureReason: "MFA challenge not answered in time: a new aggregation needs the user present",
  nextDueAt: null
}

/**
 * The ending of a run that failed with an error (`reason`) after every retry. A failure of the
 * worker's own database is no sign of trouble at MX: the member is due again at once and the failure
 * does not count towards the policy's back-off.
 *
 * @since 0.1.0
 * @category endings
 */
export const failedEnding = (reason: string, options: { readonly ownDatabase: boolean }): Ending => ({
  outcome: "failed",
  status: null,
  action: null,
  event: "retry_scheduled",
  needsUserReason: null,
  failed: !options.ownDatabase,
  failureReason: reason,
  nextDueAt: options.ownDatabase ? "now" : "policy"
})

/**
 * The member's next action after an ending: its own, or for a failed run (an MX error that outlasted
 * the retries) a retry later, like provider trouble.
 *
 * @since 0.1.0
 * @category endings
 */
export const nextActionAfter = (ending: Ending): NextAction.NextAction | null =>
  ending.action ?? (ending.failed ? new NextAction.RetryLater({ status: "FAILED" }) : null)

/**
 * When the member is due again after `ending` (epoch ms, `null`: not until something else happens).
 * `jitter` in [0, 1) spreads the policy's delay over ±10 %, so that members aggregated together do
 * not stay in step.
 *
 * @since 0.1.0
 * @category endings
 */
export const nextDueAt = (
  ending: Ending,
  context: {
    readonly now: number
    readonly consecutiveFailures: number
    readonly jitter: number
    readonly options?: AggregationPolicy.Options | undefined
  }
): number | null => {
  if (ending.nextDueAt === "now") return context.now
  if (ending.nextDueAt !== "policy") return ending.nextDueAt
  const action = nextActionAfter(ending)
  if (action === null) return null
  return Option.match(AggregationPolicy.nextCheckAfter(action, context.consecutiveFailures, context.options), {
    onNone: () => null,
    onSome: (d) => context.now + Math.round(Duration.toMillis(d) * (0.9 + 0.2 * context.jitter))
  })
}
