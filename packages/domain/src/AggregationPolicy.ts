/**
 * When to call aggregate at all. MX aggregates every member in the background about once a day and
 * says the aggregate endpoint is not for periodic refreshes; a manual aggregate suppresses background
 * aggregation for about 20 hours; status polls should be at least 3 seconds apart. So a scheduled run
 * pulls new data when MX aggregated recently and aggregates only when data is stale, the user is
 * present, or an operator asks.
 *
 * @since 0.1.0
 */
import { Duration, Option, Schema } from "effect"
import { absurd } from "effect/Function"
import * as ConnectionStatus from "./ConnectionStatus.js"
import type { NextAction, Observation } from "./NextAction.js"

/**
 * MX's recommended minimum interval between two status polls of a member.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimumPollInterval: Duration.Duration = Duration.seconds(3)

/**
 * After a manual aggregate, "MX will not initiate a background aggregation within the next 20-hour
 * period".
 *
 * @since 0.1.0
 * @category constants
 */
export const backgroundSuppression: Duration.Duration = Duration.hours(20)

/**
 * Why a run was started.
 *
 * - `Scheduled`: the worker's periodic check.
 * - `UserPresent`: the end user is in the partner's app (the guide's "new session").
 * - `Manual`: an operator asked for an aggregation.
 * - `Webhook`: an MX webhook (CONNECTION_STATUS, member_data_updated) said the member changed. A
 *   webhook is a hint that anyone who learns the webhook URL could send: the run follows what MX itself
 *   says and pulls data MX has and the worker has not, but never calls aggregate.
 * - `DataUpdated`: as `Webhook` (the name runs journaled by earlier versions carry).
 * - `CredentialsUpdated`: the member's credentials were just updated.
 * - `UserActedAtInstitution`: the end user says they acted at the institution's website (unlocked the
 *   account, accepted the terms) after LOCKED or IMPEDED. The user is present too.
 *
 * @since 0.1.0
 * @category models
 */
export const Trigger = Schema.Literal(
  "Scheduled",
  "UserPresent",
  "Manual",
  "Webhook",
  "DataUpdated",
  "CredentialsUpdated",
  "UserActedAtInstitution"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Trigger = typeof Trigger.Type

/**
 * Tunables of the policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A scheduled run pulls only when MX aggregated successfully within this window (default 24 h). */
  readonly freshness: Duration.DurationInput
  /** When the user is present, data this recent is not aggregated again (default 15 min). */
  readonly presentFreshness: Duration.DurationInput
  /** How often the scheduler checks a healthy member (default 6 h). */
  readonly cadence: Duration.DurationInput
  /** First delay after provider trouble; doubles per consecutive failure (default 1 h). */
  readonly retryBase: Duration.DurationInput
  /** Longest delay after provider trouble (default 24 h). */
  readonly retryCap: Duration.DurationInput
  /**
   * After LOCKED or IMPEDED, how long since the last aggregation attempt before a run aggregates again
   * without the user saying they acted at the institution (default 7 days).
   */
  readonly institutionBackoff: Duration.DurationInput
  /** After a status this code does not know, when to read the member again (default 1 h). */
  readonly unknownStatusRecheck: Duration.DurationInput
}

/**
 * The default tunables.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultOptions: Options = {
  freshness: Duration.hours(24),
  presentFreshness: Duration.minutes(15),
  cadence: Duration.hours(6),
  retryBase: Duration.hours(1),
  retryCap: Duration.hours(24),
  institutionBackoff: Duration.days(7),
  unknownStatusRecheck: Duration.hours(1)
}

/**
 * What a run knows when it decides.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly observation: Observation
  readonly trigger: Trigger
  /**
   * The end user is present and can answer MFA. The `UserPresent` and `UserActedAtInstitution` triggers
   * say so too; `isUserPresent` is the one notion of presence every rule uses.
   */
  readonly userPresent: boolean
  /** Epoch milliseconds. */
  readonly now: number
  /** When this worker last pulled the member's data (epoch ms), if ever. */
  readonly lastPulledAt?: number | null | undefined
  /** When this worker last called aggregate for the member (epoch ms), if ever. */
  readonly lastAggregateCalledAt?: number | null | undefined
  /**
   * When the member is due for its next check (epoch ms), `null` when it has none. A webhook run that
   * finds nothing to pull keeps this check (a healthy member without one gets one a cadence away).
   */
  readonly nextCheckAt?: number | null | undefined
  /**
   * A credential update just started an aggregation on MX's side. Honoured whatever the trigger. When
   * left out it follows MX's rule: a `CredentialsUpdated` run's update (with credentials) started one,
   * unless the caller sent `skip_aggregation`, in which case it must say `false`.
   */
  readonly credentialUpdateStartedAggregation?: boolean | undefined
}

/**
 * Whether the end user is present: the `userPresent` flag or a trigger that stands for the user
 * (`UserPresent`, `UserActedAtInstitution`). A webhook's run never counts as the user's, whatever the
 * flag says (anyone who learns the webhook URL could send one).
 *
 * @since 0.1.0
 * @category rules
 */
export const isUserPresent = (context: Pick<Context, "trigger" | "userPresent">): boolean =>
  !isHint(context.trigger) &&
  (context.userPresent || context.trigger === "UserPresent" || context.trigger === "UserActedAtInstitution")

/**
 * Whether a credential update started an aggregation MX is running: the context's
 * `credentialUpdateStartedAggregation`, or by MX's rule (an update with credentials aggregates unless
 * `skip_aggregation`) for a `CredentialsUpdated` run that does not say.
 *
 * @since 0.1.0
 * @category rules
 */
export const credentialUpdateStartedAggregation = (
  context: Pick<Context, "trigger" | "credentialUpdateStartedAggregation">
): boolean => context.credentialUpdateStartedAggregation ?? context.trigger === "CredentialsUpdated"

const isHint = (trigger: Trigger): boolean => trigger === "Webhook" || trigger === "DataUpdated"

/**
 * Call aggregate, then poll.
 *
 * @since 0.1.0
 * @category decisions
 */
export class Aggregate extends Schema.TaggedClass<Aggregate>()("Aggregate", { reason: Schema.String }) {}

/**
 * MX is already aggregating (its own job, a background one, or one a credential update started): poll
 * it, do not call aggregate.
 *
 * @since 0.1.0
 * @category decisions
 */
export class FollowAggregation extends Schema.TaggedClass<FollowAggregation>()("FollowAggregation", {
  reason: Schema.String
}) {}

/**
 * MX aggregated recently and successfully: pull the data only.
 *
 * @since 0.1.0
 * @category decisions
 */
export class PullOnly extends Schema.TaggedClass<PullOnly>()("PullOnly", { reason: Schema.String }) {}

/**
 * The member is CHALLENGED: answer and resume; never aggregate.
 *
 * @since 0.1.0
 * @category decisions
 */
export class AnswerChallenges extends Schema.TaggedClass<AnswerChallenges>()("AnswerChallenges", {}) {}

/**
 * Nothing to do now; check again at `until` (epoch ms) if given.
 *
 * @since 0.1.0
 * @category decisions
 */
export class NotNow extends Schema.TaggedClass<NotNow>()("NotNow", {
  until: Schema.NullOr(Schema.Number),
  reason: Schema.String
}) {}

/**
 * The end user must act first: be present (to answer MFA), enter credentials, act at the institution,
 * or complete an OAuth window.
 *
 * @since 0.1.0
 * @category decisions
 */
export class NeedsUser extends Schema.TaggedClass<NeedsUser>()("NeedsUser", {
  need: Schema.Literal("presence", "credentials", "institution", "oauth")
}) {}

/**
 * Aggregation is no longer possible, or the member does not aggregate: stop scheduling it.
 *
 * @since 0.1.0
 * @category decisions
 */
export class Stop extends Schema.TaggedClass<Stop>()("Stop", { reason: Schema.String }) {}

/**
 * What a run should do.
 *
 * @since 0.1.0
 * @category decisions
 */
export const Decision = Schema.Union(Aggregate, FollowAggregation, PullOnly, AnswerChallenges, NotNow, NeedsUser, Stop)

/**
 * @since 0.1.0
 * @category decisions
 */
export type Decision = typeof Decision.Type

const parse = (timestamp: string | null | undefined): number | undefined => {
  if (timestamp === null || timestamp === undefined) return undefined
  const ms = Date.parse(timestamp)
  return Number.isNaN(ms) ? undefined : ms
}

const within = (since: number | null | undefined, now: number, window: Duration.DurationInput): boolean =>
  since !== null && since !== undefined && now - since < Duration.toMillis(window)

/**
 * What a run does, from everything it knows (`NextAction.decide` reads one observation only; this
 * weighs the trigger, presence and history too). Total: every status class (`Unknown` included) is
 * handled explicitly, and only `Connected`, `Processing` and `ProviderTrouble` go on to the freshness
 * rules. Rules, in order:
 * 1. never aggregate while a credential update's aggregation runs (`credentialUpdateStartedAggregation`,
 *    whatever the trigger): follow it;
 * 2. CHALLENGED: answer and resume, never aggregate;
 * 3. MX may be aggregating (`is_being_aggregated` true or unknown): follow it (another aggregate would
 *    be a no-op 202);
 * 4. a status this code does not know: not now, read it again after `unknownStatusRecheck` (never
 *    aggregate, never ask the user on a guess);
 * 5. terminal or non-aggregating members stop; OAuth and credential problems need the user;
 * 6. LOCKED/IMPEDED aggregate again only when the user says they acted at the institution
 *    (`UserActedAtInstitution`), or once `institutionBackoff` has passed since the last attempt
 *    (`aggregated_at` or our last aggregate call); mere presence is not enough;
 * 7. EXPIRED and REJECTED aggregate only when the user is present (`isUserPresent`: MFA will be asked
 *    again);
 * 8. a webhook (a hint) pulls data MX has and the worker has not pulled, and otherwise leaves the
 *    member's schedule alone: it never aggregates, whatever the age of the data;
 * 9. an operator's manual trigger aggregates; a present user gets an aggregation unless the data is
 *    fresher than `presentFreshness`;
 * 10. a scheduled run pulls only when MX aggregated successfully within `freshness`, waits while a
 *    manual aggregate of ours still suppresses background aggregation, and aggregates stale data.
 *
 * @since 0.1.0
 * @category rules
 */
export const evaluate = (context: Context, options: Options = defaultOptions): Decision => {
  const { now, observation, trigger } = context
  const hint = isHint(trigger)
  const userPresent = isUserPresent(context)
  const status = observation.connection_status
  if (credentialUpdateStartedAggregation(context)) {
    return new FollowAggregation({ reason: "the credential update started an aggregation" })
  }
  if (status === "CHALLENGED") return new AnswerChallenges()
  if (observation.is_being_aggregated !== false) {
    return new FollowAggregation({
      reason: observation.is_being_aggregated === true
        ? "MX is aggregating the member"
        : "MX did not say whether it is aggregating the member"
    })
  }
  const lastSuccess = parse(observation.successfully_aggregated_at)
  const statusClass = ConnectionStatus.classify(status)
  switch (statusClass) {
    case "Unknown":
      return new NotNow({
        until: now + Duration.toMillis(options.unknownStatusRecheck),
        reason: `MX reports a status this worker does not know (${status}): not aggregating; reading it again later`
      })
    case "Terminal":
      return new Stop({ reason: `${status} members cannot be aggregated` })
    case "NotAggregating":
      return new Stop({ reason: "the member does not aggregate" })
    case "AwaitingOAuth":
      return new NeedsUser({ need: "oauth" })
    case "CredentialsRequired":
      return new NeedsUser({ need: "credentials" })
    case "InstitutionActionRequired": {
      if (trigger === "UserActedAtInstitution") {
        return new Aggregate({ reason: `the user acted at the institution after ${status}` })
      }
      const lastAttempt = Math.max(
        parse(observation.aggregated_at) ?? -Infinity,
        context.lastAggregateCalledAt ?? -Infinity
      )
      return Number.isFinite(lastAttempt) && !hint && !within(lastAttempt, now, options.institutionBackoff)
        ? new Aggregate({ reason: `long back-off after ${status}: trying again` })
        : new NeedsUser({ need: "institution" })
    }
    case "RestartRequired":
      return userPresent
        ? new Aggregate({ reason: `new aggregation after ${status} with the user present` })
        : new NeedsUser({ need: "presence" })
    case "Challenged":
      return new AnswerChallenges()
    case "ProviderTrouble":
    case "Connected":
    case "Processing":
      break
    default:
      // Every class is handled above: a class added to StatusClass does not compile until it is.
      return absurd<Decision>(statusClass)
  }
  if (hint) return afterWebhook(lastSuccess, context, options)
  if (trigger === "Manual") return new Aggregate({ reason: "requested" })
  if (userPresent) {
    return within(lastSuccess, now, options.presentFreshness)
      ? pullIfNew(lastSuccess, context, options)
      : new Aggregate({ reason: "the user is present" })
  }
  if (within(lastSuccess, now, options.freshness)) return pullIfNew(lastSuccess, context, options)
  if (within(context.lastAggregateCalledAt, now, backgroundSuppression)) {
    return new NotNow({
      until: context.lastAggregateCalledAt! + Duration.toMillis(backgroundSuppression),
      reason: "a recent aggregate of ours suppresses MX's background aggregation; not aggregating again yet"
    })
  }
  return new Aggregate({ reason: lastSuccess === undefined ? "never aggregated" : "data is stale" })
}

const notPulledYet = (lastSuccess: number | undefined, context: Context): lastSuccess is number =>
  lastSuccess !== undefined && (context.lastPulledAt === null || context.lastPulledAt === undefined ||
    context.lastPulledAt < lastSuccess)

// Stale data is the scheduled check's to aggregate, not a webhook's: otherwise anyone able to send one
// could make the worker call aggregate, which suppresses MX's background aggregation for 20 hours.
const afterWebhook = (lastSuccess: number | undefined, context: Context, options: Options): Decision =>
  notPulledYet(lastSuccess, context)
    ? new PullOnly({ reason: "MX has data the worker has not pulled" })
    : new NotNow({
      until: context.nextCheckAt === null || context.nextCheckAt === undefined
        ? context.now + Duration.toMillis(options.cadence)
        : context.nextCheckAt,
      reason: "a webhook is a hint: nothing new to pull, and aggregating is for the scheduled check or the user"
    })

const pullIfNew = (lastSuccess: number | undefined, context: Context, options: Options): Decision =>
  notPulledYet(lastSuccess, context)
    ? new PullOnly({ reason: "MX aggregated recently" })
    : new NotNow({
      until: (lastSuccess ?? context.now) + Duration.toMillis(options.freshness),
      reason: "data is fresh and already pulled"
    })

/**
 * A count of consecutive failures made safe: an integer from 0 to 30. A negative count is 0; a count
 * that is not a number (NaN) or infinite is unknown and taken as the most (so the longest delay), never
 * as 0 ms.
 */
const failures = (consecutiveFailures: number): number =>
  Number.isNaN(consecutiveFailures) ? 30 : Math.max(0, Math.min(Math.floor(consecutiveFailures), 30))

/**
 * When the scheduler should look at a member again after a run ended with `action`: a healthy member
 * after `cadence`; provider trouble with exponential backoff from `retryBase` to `retryCap` (a
 * negative failure count counts as none; NaN or infinity as many, so the cap); an unsettled member
 * (`KeepPolling`, an unknown status included) after 15 minutes; LOCKED/IMPEDED after
 * `institutionBackoff` (when `evaluate` tries again by itself); a member that needs its user, or cannot
 * be aggregated, not until something changes (a signal, a webhook, new credentials).
 *
 * @since 0.1.0
 * @category rules
 */
export const nextCheckAfter = (
  action: NextAction,
  consecutiveFailures: number,
  options: Options = defaultOptions
): Option.Option<Duration.Duration> => {
  switch (action._tag) {
    case "PullData":
      return Option.some(Duration.decode(options.cadence))
    case "KeepPolling":
      return Option.some(Duration.max(Duration.minutes(15), minimumPollInterval))
    case "RetryLater": {
      const base = Duration.toMillis(options.retryBase) * 2 ** failures(consecutiveFailures)
      return Option.some(Duration.millis(Math.min(base, Duration.toMillis(options.retryCap))))
    }
    case "ActAtInstitution":
      return Option.some(Duration.decode(options.institutionBackoff))
    case "AnswerChallenges":
    case "UpdateCredentials":
    case "StartNewAggregation":
    case "CompleteOAuth":
    case "StopAggregating":
    case "NotAggregatable":
      return Option.none()
  }
}
