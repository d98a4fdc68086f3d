/**
 * The worker's control API, as a typed `HttpApi` definition shared by the server and by clients
 * (`HttpApiClient.make(ControlApi)`): members and their next action, pending MFA challenges, MFA
 * answers, aggregation triggers, the user-present signal, and health. Everything but health needs
 * `Authorization: Bearer <WORKER_API_TOKEN>`. Every error is an RFC 9457 problem (`Problem`).
 *
 * @since 0.1.0
 */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { ConnectionStatus, CredentialUpdate, Member } from "@mx-aggregation/domain"
import { AggregationRuns, Erasure } from "@mx-aggregation/store"
import { Schema, Struct } from "effect"
import * as Problem from "./Problem.js"

/**
 * Bearer-token authentication.
 *
 * @since 0.1.0
 * @category security
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("Authorization", {
  failure: Problem.Unauthorized,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

const Timestamp = Schema.NullOr(Schema.String)

/**
 * A tracked member as the API shows it.
 *
 * @since 0.1.0
 * @category models
 */
export class MemberView extends Schema.Class<MemberView>("MemberView")({
  memberGuid: Schema.String,
  userGuid: Schema.String,
  institutionCode: Schema.NullOr(Schema.String),
  tracked: Schema.Boolean,
  connectionStatus: ConnectionStatus.NullableReportedStatus,
  statusClass: Schema.NullOr(ConnectionStatus.StatusClass),
  isBeingAggregated: Schema.Boolean,
  nextAction: Schema.NullOr(Schema.String),
  userAction: Schema.NullOr(Schema.String),
  needsUser: Schema.NullOr(Schema.String),
  activeRunId: Schema.NullOr(Schema.String),
  successfullyAggregatedAt: Timestamp,
  observedAt: Timestamp,
  nextDueAt: Timestamp
}) {}

/**
 * One aggregation run.
 *
 * @since 0.1.0
 * @category models
 */
export class RunView extends Schema.Class<RunView>("RunView")({
  runId: Schema.String,
  reason: Schema.String,
  startedAt: Schema.String,
  endedAt: Timestamp,
  outcome: Schema.NullOr(Schema.String),
  failureReason: Schema.NullOr(Schema.String),
  mxCalls: Schema.Number,
  /** List rows MX sent that did not decode: left out of what the run stored (and logged). */
  rowsSkipped: Schema.Number
}) {}

/**
 * A member with its recent runs.
 *
 * @since 0.1.0
 * @category models
 */
export class MemberDetail extends Schema.Class<MemberDetail>("MemberDetail")({
  member: MemberView,
  runs: Schema.Array(RunView)
}) {}

/**
 * A status a run observed, with when.
 *
 * @since 0.1.0
 * @category models
 */
export class RunStatusView extends Schema.Class<RunStatusView>("RunStatusView")({
  status: ConnectionStatus.NullableReportedStatus,
  observedAt: Schema.String
}) {}

/**
 * One run with the statuses it observed, oldest first.
 *
 * @since 0.1.0
 * @category models
 */
export class RunDetail extends Schema.Class<RunDetail>("RunDetail")({
  memberGuid: Schema.String,
  run: RunView,
  statuses: Schema.Array(RunStatusView)
}) {}

/**
 * How many tracked members one status class holds (`null`: never observed yet).
 *
 * @since 0.1.0
 * @category models
 */
export class StatusClassCount extends Schema.Class<StatusClassCount>("StatusClassCount")({
  statusClass: Schema.NullOr(ConnectionStatus.StatusClass),
  count: Schema.Number
}) {}

/**
 * The tracked members counted by status class (classes without members are left out).
 *
 * @since 0.1.0
 * @category models
 */
export class MemberCounts extends Schema.Class<MemberCounts>("MemberCounts")({
  total: Schema.Number,
  byStatusClass: Schema.Array(StatusClassCount)
}) {}

/**
 * Challenges waiting for the end user's answers (never any answer).
 *
 * @since 0.1.0
 * @category models
 */
export class PendingChallengeView extends Schema.Class<PendingChallengeView>("PendingChallengeView")({
  memberGuid: Schema.String,
  runId: Schema.String,
  createdAt: Schema.String,
  expiresAt: Timestamp,
  challenges: Schema.Array(Member.Challenge)
}) {}

/**
 * MFA answers: one `{ guid, value }` per challenge; for option challenges the value is an option's
 * `value` or `guid`.
 *
 * @since 0.1.0
 * @category models
 */
export class AnswersBody extends Schema.Class<AnswersBody>("AnswersBody")({
  answers: Schema.NonEmptyArray(Member.CredentialValue)
}) {}

/**
 * What a trigger did for one member.
 *
 * @since 0.1.0
 * @category models
 */
export class Triggered extends Schema.Class<Triggered>("Triggered")({
  memberGuid: Schema.String,
  started: Schema.Boolean,
  runId: Schema.NullOr(Schema.String)
}) {}

/**
 * New credentials for a member: one `{ guid, value }` per credential of the member's own credential
 * list (`GET …/credentials` at MX). `purpose` identify/verify, or `aggregateLater`, make MX skip its
 * automatic aggregation.
 *
 * @since 0.1.0
 * @category models
 */
export class CredentialsBody extends Schema.Class<CredentialsBody>("CredentialsBody")({
  credentials: Schema.NonEmptyArray(Member.CredentialValue),
  purpose: Schema.optional(CredentialUpdate.Purpose),
  aggregateLater: Schema.optional(Schema.Boolean)
}) {}

/**
 * What a credential update did.
 *
 * @since 0.1.0
 * @category models
 */
export class CredentialsUpdated extends Schema.Class<CredentialsUpdated>("CredentialsUpdated")({
  skipAggregation: Schema.Boolean,
  mxStartsAggregation: Schema.Boolean,
  runId: Schema.NullOr(Schema.String)
}) {}

/**
 * A member to track.
 *
 * @since 0.1.0
 * @category models
 */
export class TrackBody extends Schema.Class<TrackBody>("TrackBody")({
  userGuid: Member.UserGuid,
  memberGuid: Member.MemberGuid,
  institutionCode: Schema.optional(Member.InstitutionCode)
}) {}

/**
 * An event for the partner (also delivered to the notification URL when one is configured).
 *
 * @since 0.1.0
 * @category models
 */
export class EventView extends Schema.Class<EventView>("EventView")({
  id: Schema.Number,
  type: Schema.String,
  memberGuid: Schema.String,
  userGuid: Schema.NullOr(Schema.String),
  createdAt: Schema.String,
  deliveredAt: Schema.NullOr(Schema.String),
  payload: Schema.Unknown
}) {}

/**
 * A page of events, in id order.
 *
 * @since 0.1.0
 * @category models
 */
export class EventsPage extends Schema.Class<EventsPage>("EventsPage")({
  events: Schema.Array(EventView),
  /** Pass it back as `afterId` for the next page: the last event's id (the given `afterId` when none). */
  next: Schema.Number
}) {}

/**
 * A page of members, by guid.
 *
 * @since 0.1.0
 * @category models
 */
export class MembersPage extends Schema.Class<MembersPage>("MembersPage")({
  members: Schema.Array(MemberView),
  /** Pass it back as `cursor` for the next page; `null`: this was the last page. */
  next: Schema.NullOr(Schema.String)
}) {}

/**
 * A page of pending challenges, oldest first.
 *
 * @since 0.1.0
 * @category models
 */
export class ChallengesPage extends Schema.Class<ChallengesPage>("ChallengesPage")({
  challenges: Schema.Array(PendingChallengeView),
  /** Pass it back as `cursor` for the next page; `null`: this was the last page. */
  next: Schema.NullOr(Schema.String)
}) {}

/**
 * What `DELETE /members/:memberGuid` did without `purge`: the member is no longer scheduled (its
 * data stays).
 *
 * @since 0.1.0
 * @category models
 */
export class Untracked extends Schema.Class<Untracked>("Untracked")({
  untracked: Schema.Boolean
}) {}

/**
 * What `DELETE /members/:memberGuid?purge=true` removed from the worker's database: rows per table.
 * Nothing at MX is touched.
 *
 * @since 0.1.0
 * @category models
 */
export class Purged extends Schema.Class<Purged>("Purged")({
  purged: Schema.Literal(true),
  /** Rows removed per table: the store's own count (`Erasure.Erased`), without the run ids. */
  removed: Schema.Struct(Struct.omit(Erasure.Erased.fields, "runIds"))
}) {}

/**
 * The page size when a list request gives none.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPageSize = 100

/**
 * The largest page a list request may ask for (`limit`); more is a 400.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxPageSize = 1000

const Digits = Schema.String.pipe(Schema.pattern(/^[0-9]{1,15}$/))

/** A non-negative integer in a query string: digits only, no sign, fraction, exponent or spaces. */
const QueryInteger = Schema.compose(
  Digits.annotations({ description: "a non-negative integer" }),
  Schema.NumberFromString
)

/** The `next` of a previous page of challenges. */
const ChallengeCursor = Digits.annotations({ description: "the next cursor of a previous page" })

const PageSize = QueryInteger.pipe(Schema.between(1, maxPageSize)).annotations({
  description: `a page size from 1 to ${maxPageSize}`
})

const memberGuidParam = HttpApiSchema.param("memberGuid", Member.MemberGuid)
const userGuidParam = HttpApiSchema.param("userGuid", Member.UserGuid)
const runIdParam = HttpApiSchema.param("runId", AggregationRuns.RunId)

/**
 * Health, without authentication.
 *
 * @since 0.1.0
 * @category groups
 */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({ status: Schema.Literal("ok") })))
  .add(
    HttpApiEndpoint.get("ready", "/ready").addSuccess(Schema.Struct({ status: Schema.Literal("ready") })).addError(
      Problem.NotReady
    )
  )
{}

/**
 * The partner event feed: `GET /events?afterId=<next>` returns the events after the cursor in id order,
 * every event exactly once to a reader that passes each page's `next` back.
 *
 * @since 0.1.0
 * @category groups
 */
export class EventsGroup extends HttpApiGroup.make("events").add(
  HttpApiEndpoint.get("list", "/events")
    .setUrlParams(Schema.Struct({
      memberGuid: Schema.optional(Member.MemberGuid),
      afterId: Schema.optional(QueryInteger),
      limit: Schema.optional(PageSize)
    }))
    .addSuccess(EventsPage)
).addError(Problem.Unavailable).middleware(Authorization) {}

/**
 * Aggregation runs: one run with the statuses it observed.
 *
 * @since 0.1.0
 * @category groups
 */
export class RunsGroup extends HttpApiGroup.make("runs").add(
  HttpApiEndpoint.get("get")`/runs/${runIdParam}`.addSuccess(RunDetail).addError(Problem.NotFound)
).addError(Problem.Unavailable).middleware(Authorization) {}

/**
 * Members, challenges and triggers.
 *
 * @since 0.1.0
 * @category groups
 */
export class MembersGroup extends HttpApiGroup.make("members")
  .add(
    HttpApiEndpoint.get("list", "/members")
      .setUrlParams(Schema.Struct({
        statusClass: Schema.optional(ConnectionStatus.StatusClass),
        userGuid: Schema.optional(Member.UserGuid),
        cursor: Schema.optional(Member.MemberGuid),
        limit: Schema.optional(PageSize)
      }))
      .addSuccess(MembersPage)
  )
  .add(HttpApiEndpoint.get("counts", "/members/counts").addSuccess(MemberCounts))
  .add(HttpApiEndpoint.get("get")`/members/${memberGuidParam}`.addSuccess(MemberDetail).addError(Problem.NotFound))
  .add(
    HttpApiEndpoint.get("challenges")`/members/${memberGuidParam}/challenges`
      .addSuccess(PendingChallengeView)
      .addError(Problem.NotFound)
  )
  .add(
    HttpApiEndpoint.post("answer")`/members/${memberGuidParam}/challenges/answers`
      .setPayload(AnswersBody)
      .addSuccess(Schema.Struct({ resumed: Schema.Literal(true) }), { status: 202 })
      .addError(Problem.Conflict)
      .addError(Problem.Invalid)
      .addError(Problem.Upstream)
  )
  .add(
    HttpApiEndpoint.post("aggregate")`/members/${memberGuidParam}/aggregate`
      .addSuccess(Triggered, { status: 202 })
      .addError(Problem.NotFound)
  )
  .add(
    // The user says they did what the institution asked (unlocked the account, accepted its terms): a
    // LOCKED or IMPEDED member is aggregated again only on this word, or after a long back-off.
    HttpApiEndpoint.post("institutionActionDone")`/members/${memberGuidParam}/institution-action-done`
      .addSuccess(Triggered, { status: 202 })
      .addError(Problem.NotFound)
  )
  .add(
    HttpApiEndpoint.post("updateCredentials")`/members/${memberGuidParam}/credentials`
      .setPayload(CredentialsBody)
      .addSuccess(CredentialsUpdated, { status: 202 })
      .addError(Problem.NotFound)
      .addError(Problem.Invalid)
      .addError(Problem.Conflict)
      .addError(Problem.Upstream)
  )
  .add(
    HttpApiEndpoint.get("credentialFields")`/members/${memberGuidParam}/credentials`
      .addSuccess(Schema.Array(Member.Credential))
      .addError(Problem.NotFound)
      .addError(Problem.Upstream)
  )
  .add(HttpApiEndpoint.post("track", "/members").setPayload(TrackBody).addSuccess(MemberView, { status: 201 }))
  .add(
    HttpApiEndpoint.del("untrack")`/members/${memberGuidParam}`
      .setUrlParams(Schema.Struct({ purge: Schema.optional(Schema.Literal("true", "false")) }))
      .addSuccess(Schema.Union(Untracked, Purged))
      .addError(Problem.NotFound)
      .addError(Problem.Conflict)
  )
  .add(
    HttpApiEndpoint.get("pendingChallenges", "/challenges")
      .setUrlParams(Schema.Struct({ cursor: Schema.optional(ChallengeCursor), limit: Schema.optional(PageSize) }))
      .addSuccess(ChallengesPage)
  )
  .add(
    HttpApiEndpoint.post("userPresent")`/users/${userGuidParam}/present`.addSuccess(Schema.Array(Triggered), {
      status: 202
    })
  )
  .add(
    HttpApiEndpoint.post("aggregateUser")`/users/${userGuidParam}/aggregate`.addSuccess(Schema.Array(Triggered), {
      status: 202
    })
  )
  .addError(Problem.Unavailable)
  .middleware(Authorization)
{}

/**
 * The control API. Every error is an RFC 9457 problem (`Problem`).
 *
 * @since 0.1.0
 * @category api
 */
export class ControlApi extends HttpApi.make("mx-aggregation")
  .add(HealthGroup)
  .add(MembersGroup)
  .add(EventsGroup)
  .add(RunsGroup)
  .addError(Problem.BadRequest)
  .addError(Problem.NotFound)
  .addError(Problem.PayloadTooLarge)
  .addError(Problem.TooManyRequests)
  .addError(Problem.InternalError)
  .addError(Problem.Timeout)
  .annotate(OpenApi.Transform, Problem.documentProblems)
{}
