/**
 * What to do next with a member, given what was last observed of it. `decide` is the one entry point:
 * a total function from every observation (every known status, an unknown status, `null`, and
 * `is_being_aggregated` true, false or unknown) to exactly one action, `KeepPolling` while the
 * aggregation is not settled. `isSettled` is defined from it, so the two never disagree. There is no
 * action that deletes a member: MX's guide forbids deleting and recreating a member to recover it.
 *
 * @since 0.1.0
 */
import { Match, Schema } from "effect"
import * as ConnectionStatus from "./ConnectionStatus.js"
import { Timestamp } from "./Member.js"

/**
 * What the rules need to know about a member: its `connection_status` (known, unknown or null),
 * whether MX is aggregating it (`null` when unknown: treated as still aggregating), and its aggregation
 * timestamps. A `Member` and a `MemberStatus` both satisfy it.
 *
 * @since 0.1.0
 * @category models
 */
export const Observation = Schema.Struct({
  connection_status: ConnectionStatus.NullableReportedStatus,
  is_being_aggregated: Schema.NullOr(Schema.Boolean),
  aggregated_at: Schema.optional(Schema.NullOr(Timestamp)),
  successfully_aggregated_at: Schema.optional(Schema.NullOr(Timestamp))
}).annotations({ identifier: "Observation" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Observation extends Schema.Schema.Type<typeof Observation> {}

/**
 * The aggregation is not settled: it is under way, MX is still finishing it (a status left over from
 * the previous aggregation while `is_being_aggregated` is true or unknown), or MX reports a status this
 * code does not know. Read the member again later, no sooner than 3 seconds after the previous read.
 * Never aggregate, never ask for credentials or the user because of it.
 *
 * @since 0.1.0
 * @category actions
 */
export class KeepPolling extends Schema.TaggedClass<KeepPolling>()("KeepPolling", {
  status: ConnectionStatus.NullableReportedStatus
}) {}

/**
 * The member is CHALLENGED: list its challenges, ask the end user, and resume the aggregation with
 * the answers. Resuming continues the same aggregation; it does not start a new one.
 *
 * @since 0.1.0
 * @category actions
 */
export class AnswerChallenges extends Schema.TaggedClass<AnswerChallenges>()("AnswerChallenges", {}) {}

/**
 * The aggregation succeeded and finished (CONNECTED, not being aggregated): pull accounts and
 * transactions.
 *
 * @since 0.1.0
 * @category actions
 */
export class PullData extends Schema.TaggedClass<PullData>()("PullData", {
  successfullyAggregatedAt: Schema.NullOr(Timestamp)
}) {}

/**
 * The member's credentials are invalid or missing: list the member's own credentials (never the
 * institution's), ask the end user for new values, and update the member. Never delete it.
 *
 * @since 0.1.0
 * @category actions
 */
export class UpdateCredentials extends Schema.TaggedClass<UpdateCredentials>()("UpdateCredentials", {
  status: Schema.Literal("PREVENTED", "DENIED", "IMPAIRED", "IMPORTED"),
  credentialsSource: Schema.Literal("member")
}) {}

/**
 * The aggregation ended without a result but the credentials are valid: start a new aggregation.
 * MFA will likely be asked again, so the end user must be present. Never ask for credentials.
 *
 * @since 0.1.0
 * @category actions
 */
export class StartNewAggregation extends Schema.TaggedClass<StartNewAggregation>()("StartNewAggregation", {
  status: Schema.Literal("REJECTED", "EXPIRED"),
  userPresenceRequired: Schema.Boolean
}) {}

/**
 * The institution blocks the connection (LOCKED, IMPEDED): the end user must act on the institution's
 * website; aggregate again afterwards.
 *
 * @since 0.1.0
 * @category actions
 */
export class ActAtInstitution extends Schema.TaggedClass<ActAtInstitution>()("ActAtInstitution", {
  status: Schema.Literal("LOCKED", "IMPEDED")
}) {}

/**
 * A problem on the provider's side (DEGRADED, DISCONNECTED, FAILED): aggregate again later, with
 * backoff. Nothing is asked of the end user.
 *
 * @since 0.1.0
 * @category actions
 */
export class RetryLater extends Schema.TaggedClass<RetryLater>()("RetryLater", {
  status: Schema.Literal("DEGRADED", "DISCONNECTED", "FAILED")
}) {}

/**
 * An OAuth member waiting for the end user to complete the institution's OAuth window
 * (`oauth_window_uri`).
 *
 * @since 0.1.0
 * @category actions
 */
export class CompleteOAuth extends Schema.TaggedClass<CompleteOAuth>()("CompleteOAuth", {}) {}

/**
 * Aggregation is no longer possible (DISCONTINUED, CLOSED, DISABLED): stop scheduling it. The member
 * and its history are kept.
 *
 * @since 0.1.0
 * @category actions
 */
export class StopAggregating extends Schema.TaggedClass<StopAggregating>()("StopAggregating", {
  status: Schema.Literal("DISCONTINUED", "CLOSED", "DISABLED")
}) {}

/**
 * The member does not aggregate (`connection_status` null and not being aggregated): a manual member
 * or one without credentials. Nothing to do.
 *
 * @since 0.1.0
 * @category actions
 */
export class NotAggregatable extends Schema.TaggedClass<NotAggregatable>()("NotAggregatable", {}) {}

/**
 * The next action for a member.
 *
 * @since 0.1.0
 * @category actions
 */
export const NextAction = Schema.Union(
  KeepPolling,
  AnswerChallenges,
  PullData,
  UpdateCredentials,
  StartNewAggregation,
  ActAtInstitution,
  RetryLater,
  CompleteOAuth,
  StopAggregating,
  NotAggregatable
).annotations({ identifier: "NextAction" })

/**
 * @since 0.1.0
 * @category actions
 */
export type NextAction = typeof NextAction.Type

/**
 * Whether MX may still be aggregating: `is_being_aggregated` true, or unknown (missing or null). The
 * guide: CONNECTED with `is_being_aggregated` false is complete; nothing says a member without the
 * field is, so it is not taken as settled.
 *
 * @since 0.1.0
 * @category rules
 */
export const mayBeAggregating = (observation: Observation): boolean => observation.is_being_aggregated !== false

/**
 * Decides the next action from an observation. Total and pure; the one entry point of the rules.
 *
 * Rules, in order, each documented:
 * - CHALLENGED: answer the challenges, whatever else is observed (MFA is needed now);
 * - while MX may still be aggregating (`is_being_aggregated` true or unknown), keep polling, whatever
 *   the status: it may be left over from the previous aggregation (MX's own Connect widget keeps
 *   polling then, and so does MX's sandbox: right after an aggregate, a DENIED member still reads
 *   DENIED until the new job settles). `null` while aggregating means the aggregation is starting
 *   (MX's widget: "null statuses keep coming back when it's starting");
 * - a status this code does not know: keep polling (read it again later); it is never aggregated,
 *   and neither credentials nor the user are asked for on a guess;
 * - otherwise the status decides: CONNECTED pulls data, the guide's transient statuses (and
 *   RECONNECTED) keep polling, the guide's end states ask for what each needs, provider trouble
 *   (DEGRADED, DISCONNECTED, FAILED) retries later, PENDING waits for OAuth, `null` does not aggregate.
 *
 * @since 0.1.0
 * @category rules
 */
export const decide = (observation: Observation): NextAction => {
  const status = observation.connection_status
  if (status === "CHALLENGED") return new AnswerChallenges()
  if (mayBeAggregating(observation)) return new KeepPolling({ status })
  if (status === null) return new NotAggregatable()
  if (!ConnectionStatus.isKnown(status)) return new KeepPolling({ status })
  return Match.value(status).pipe(
    Match.when(
      Match.is("CREATED", "UPDATED", "DELAYED", "RESUMED", "RECONNECTED"),
      (status) => new KeepPolling({ status })
    ),
    Match.when(
      "CONNECTED",
      () => new PullData({ successfullyAggregatedAt: observation.successfully_aggregated_at ?? null })
    ),
    Match.when(
      Match.is("PREVENTED", "DENIED", "IMPAIRED", "IMPORTED"),
      (status) => new UpdateCredentials({ status, credentialsSource: "member" })
    ),
    Match.when(
      Match.is("REJECTED", "EXPIRED"),
      (status) => new StartNewAggregation({ status, userPresenceRequired: true })
    ),
    Match.when(Match.is("LOCKED", "IMPEDED"), (status) => new ActAtInstitution({ status })),
    Match.when(Match.is("DEGRADED", "DISCONNECTED", "FAILED"), (status) => new RetryLater({ status })),
    Match.when(Match.is("DISCONTINUED", "CLOSED", "DISABLED"), (status) => new StopAggregating({ status })),
    Match.when("PENDING", () => new CompleteOAuth()),
    Match.exhaustive
  )
}

/**
 * Whether polling can stop: exactly when `decide` says something other than `KeepPolling` (so the
 * member is CHALLENGED, or MX has finished aggregating and the status is known and calls for
 * something other than polling).
 *
 * @since 0.1.0
 * @category rules
 */
export const isSettled = (observation: Observation): boolean => decide(observation)._tag !== "KeepPolling"

/**
 * Whether an action needs the end user (answers, credentials, presence, or a visit to the
 * institution) before the member can make progress.
 *
 * @since 0.1.0
 * @category rules
 */
export const needsUser = (action: NextAction): boolean =>
  action._tag === "AnswerChallenges" || action._tag === "UpdateCredentials" ||
  action._tag === "StartNewAggregation" || action._tag === "ActAtInstitution" || action._tag === "CompleteOAuth"

/**
 * A one-line, user-facing description of what the end user must do, if anything.
 *
 * @since 0.1.0
 * @category rules
 */
export const describe = (action: NextAction): string => {
  switch (action._tag) {
    case "KeepPolling":
      return action.status !== null && !ConnectionStatus.isKnown(action.status)
        ? `MX reports an unknown status (${action.status}): checking again later`
        : "Aggregation in progress"
    case "AnswerChallenges":
      return "The end user must answer the MFA challenge(s)"
    case "PullData":
      return "Aggregation complete; data can be pulled"
    case "UpdateCredentials":
      return `Credentials rejected (${action.status}): the end user must enter new credentials for this member`
    case "StartNewAggregation":
      return `Aggregation ended (${action.status}): start a new aggregation when the end user is present`
    case "ActAtInstitution":
      return `The institution blocks the connection (${action.status}): the end user must act on its website`
    case "RetryLater":
      return `Provider trouble (${action.status}): retry later`
    case "CompleteOAuth":
      return "The end user must complete the institution's OAuth window"
    case "StopAggregating":
      return `Aggregation is no longer possible (${action.status})`
    case "NotAggregatable":
      return "The member does not aggregate"
  }
}
