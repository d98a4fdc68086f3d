/**
 * The worker's control API, as a typed `HttpApi` definition shared by the server and by clients
 * (`HttpApiClient.make(ControlApi)`): members and their next action, pending MFA challenges, MFA
 * answers, aggregation triggers, the user-present signal, and health. Everything but health needs
 * `Authorization: Bearer <WORKER_API_TOKEN>`.
 *
 * @since 0.1.0
 */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity
} from "@effect/platform"
import { ConnectionStatus, CredentialUpdate, Member, Mfa } from "@mx-aggregation/domain"
import { Schema } from "effect"

/**
 * Missing or wrong bearer token.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/**
 * No such member (or not tracked), or no pending challenge.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * The request conflicts with the member's state (e.g. MFA answers for a member that is not waiting, or
 * whose round another submission answered meanwhile: a submission waits while another holds the round;
 * new credentials for a member MX no longer asks them for).
 *
 * @since 0.1.0
 * @category errors
 */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * The request is well-formed but its content is refused (e.g. answers that do not fit the challenges).
 *
 * @since 0.1.0
 * @category errors
 */
export class Invalid extends Schema.TaggedError<Invalid>()(
  "Invalid",
  { message: Schema.String, problems: Schema.optional(Schema.Array(Mfa.AnswerProblem)) },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * MX failed or refused the call the request needed.
 *
 * @since 0.1.0
 * @category errors
 */
export class Upstream extends Schema.TaggedError<Upstream>()(
  "Upstream",
  { message: Schema.String, reason: Schema.String },
  HttpApiSchema.annotations({ status: 502 })
) {}

/**
 * Bearer-token authentication.
 *
 * @since 0.1.0
 * @category security
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("Authorization", {
  failure: Unauthorized,
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
  connectionStatus: ConnectionStatus.NullableConnectionStatus,
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
  mxCalls: Schema.Number
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
 * The database is not reachable.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

const memberGuidParam = HttpApiSchema.param("memberGuid", Member.MemberGuid)
const userGuidParam = HttpApiSchema.param("userGuid", Member.UserGuid)

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
      NotReady
    )
  )
{}

/**
 * The partner event log.
 *
 * @since 0.1.0
 * @category groups
 */
export class EventsGroup extends HttpApiGroup.make("events").add(
  HttpApiEndpoint.get("list", "/events")
    .setUrlParams(Schema.Struct({
      memberGuid: Schema.optional(Member.MemberGuid),
      afterId: Schema.optional(Schema.NumberFromString),
      limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
    }))
    .addSuccess(Schema.Array(EventView))
).middleware(Authorization) {}

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
        userGuid: Schema.optional(Member.UserGuid)
      }))
      .addSuccess(Schema.Array(MemberView))
  )
  .add(HttpApiEndpoint.get("get")`/members/${memberGuidParam}`.addSuccess(MemberDetail).addError(NotFound))
  .add(
    HttpApiEndpoint.get("challenges")`/members/${memberGuidParam}/challenges`
      .addSuccess(PendingChallengeView)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("answer")`/members/${memberGuidParam}/challenges/answers`
      .setPayload(AnswersBody)
      .addSuccess(Schema.Struct({ resumed: Schema.Literal(true) }), { status: 202 })
      .addError(Conflict)
      .addError(Invalid)
      .addError(Upstream)
  )
  .add(
    HttpApiEndpoint.post("aggregate")`/members/${memberGuidParam}/aggregate`
      .addSuccess(Triggered, { status: 202 })
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("updateCredentials")`/members/${memberGuidParam}/credentials`
      .setPayload(CredentialsBody)
      .addSuccess(CredentialsUpdated, { status: 202 })
      .addError(NotFound)
      .addError(Invalid)
      .addError(Conflict)
      .addError(Upstream)
  )
  .add(
    HttpApiEndpoint.get("credentialFields")`/members/${memberGuidParam}/credentials`
      .addSuccess(Schema.Array(Member.Credential))
      .addError(NotFound)
      .addError(Upstream)
  )
  .add(HttpApiEndpoint.post("track", "/members").setPayload(TrackBody).addSuccess(MemberView, { status: 201 }))
  .add(
    HttpApiEndpoint.del("untrack")`/members/${memberGuidParam}`
      .addSuccess(Schema.Struct({ untracked: Schema.Boolean }))
  )
  .add(HttpApiEndpoint.get("pendingChallenges", "/challenges").addSuccess(Schema.Array(PendingChallengeView)))
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
  .middleware(Authorization)
{}

/**
 * The control API.
 *
 * @since 0.1.0
 * @category api
 */
export class ControlApi extends HttpApi.make("mx-aggregation")
  .add(HealthGroup)
  .add(MembersGroup)
  .add(EventsGroup)
{}
