/**
 * The members the worker keeps fresh: who owns them, what was last observed, when each is next due,
 * and which run (if any) holds it. `claim` is the one-run-per-member guard, shared by every worker
 * replica through the database.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { ConnectionStatus, Member } from "@mx-aggregation/domain"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { RunId } from "./AggregationRuns.js"
import { chunksOf, column, DbBoolean, DbInt, lastByKey, Millis, nullableColumn } from "./internal/columns.js"
import { answersSubmissionLease, credentialUpdateLease } from "./internal/lease.js"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * A tracked member, as stored. Times are epoch milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export class TrackedMember extends Schema.Class<TrackedMember>("TrackedMember")({
  memberGuid: column(Member.MemberGuid, "member_guid"),
  userGuid: column(Member.UserGuid, "user_guid"),
  institutionCode: nullableColumn(Member.InstitutionCode, "institution_code"),
  /** `false` once untracked: kept for its history, never due. */
  tracked: column(DbBoolean, "tracked"),
  /**
   * The last observed `connection_status` (`null`: never observed, or a member that does not aggregate).
   * A status the domain does not know is stored as MX's raw text and read back as an `UnknownStatus`.
   */
  status: column(ConnectionStatus.NullableReportedStatus, "connection_status"),
  /** The class of `status`; `null` until the first observation. */
  statusClass: nullableColumn(ConnectionStatus.StatusClass, "status_class"),
  /**
   * MX's last `is_being_aggregated`. When MX did not say (`null` in the observation), it is stored as
   * `true`: unknown is treated as still aggregating, as the domain's rules do (the column is a 0/1
   * integer, kept as it is).
   */
  isBeingAggregated: column(DbBoolean, "is_being_aggregated"),
  observedAt: nullableColumn(Millis, "observed_at"),
  /** MX's `successfully_aggregated_at`, as epoch milliseconds. */
  successfullyAggregatedAt: nullableColumn(Millis, "successfully_aggregated_at"),
  /** When the scheduler should look at the member again; `null`: not scheduled (waits for the user, or stopped). */
  nextDueAt: nullableColumn(Millis, "next_due_at"),
  activeRunId: nullableColumn(RunId, "active_run_id"),
  claimedAt: nullableColumn(Millis, "claimed_at"),
  /** The tag of the last `NextAction` decided for the member. */
  nextAction: nullableColumn(Schema.String, "next_action"),
  /** A short text of what the end user must do, if anything. */
  userAction: nullableColumn(Schema.String, "user_action"),
  needsUser: column(DbBoolean, "needs_user"),
  needsUserReason: nullableColumn(Schema.String, "needs_user_reason"),
  /** Failed runs in a row, for backoff; reset by a run that does not fail. */
  consecutiveFailures: column(DbInt, "consecutive_failures"),
  lastAggregateCalledAt: nullableColumn(Millis, "last_aggregate_called_at"),
  /**
   * The latest time the worker may have read the member at MX (its status or attributes): its own
   * reads outside runs, and each run's release, which comes after that run's last read. MX wants two
   * reads of a member at least 3 seconds apart.
   */
  lastReadAt: nullableColumn(Millis, "last_read_at"),
  /** Who holds the member for a credential update (see `claimCredentialUpdate`); `null`: nobody. */
  credentialUpdateBy: nullableColumn(Schema.String, "credential_update_by"),
  /** When that claim lapses: from then on another caller may take the member. */
  credentialUpdateExpiresAt: nullableColumn(Millis, "credential_update_expires_at"),
  createdAt: column(Millis, "created_at"),
  updatedAt: column(Millis, "updated_at")
}) {}

/**
 * A member to track.
 *
 * @since 0.1.0
 * @category models
 */
export interface TrackInput {
  readonly memberGuid: Member.MemberGuid
  readonly userGuid: Member.UserGuid
  readonly institutionCode?: Member.InstitutionCode | null | undefined
  /**
   * When the member is first due. A new member defaults to now; tracking a known member keeps its
   * schedule unless this is given.
   */
  readonly nextDueAt?: number | null | undefined
}

/**
 * What a run observed of a member (MX's member or member status).
 *
 * @since 0.1.0
 * @category models
 */
export interface ObservationInput {
  readonly memberGuid: Member.MemberGuid
  readonly status: ConnectionStatus.NullableReportedStatus
  /** `null`: MX did not say (stored as `true`, still aggregating); absent: `false`. */
  readonly isBeingAggregated?: boolean | null | undefined
  /** MX's `successfully_aggregated_at` in epoch milliseconds; `null`/absent keeps the known value. */
  readonly successfullyAggregatedAt?: number | null | undefined
  /** Defaults to now. */
  readonly observedAt?: number | undefined
}

/**
 * What a run decided for the member: the next action, what the user must do, when it is next due,
 * and whether the run failed (counted for backoff) or not (resets the count).
 *
 * @since 0.1.0
 * @category models
 */
export interface OutcomeInput {
  readonly memberGuid: Member.MemberGuid
  readonly nextAction: string | null
  readonly userAction: string | null
  /** Why the end user is needed; `null` when not. */
  readonly needsUserReason: string | null
  readonly nextDueAt: number | null
  readonly failed: boolean
}

/**
 * Conditions of a run's claim.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimOptions {
  /**
   * Only when the worker's last read of the member (`lastReadAt`) was at or before this time (epoch
   * ms), so that the run's first read keeps MX's spacing between two reads.
   */
  readonly lastReadBefore?: number | undefined
  /** The owner of a credential-update claim that passes to the run. */
  readonly credentialUpdate?: string | undefined
}

/**
 * Filters for `list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  readonly userGuid?: Member.UserGuid | undefined
  readonly statusClass?: ConnectionStatus.StatusClass | undefined
  readonly needsUser?: boolean | undefined
  /** Default: tracked members only; `"all"` includes untracked ones. */
  readonly tracked?: boolean | "all" | undefined
  readonly limit?: number | undefined
  readonly offset?: number | undefined
  /**
   * Only members whose guid sorts after this one: the next page after a page that ended with it
   * (a stable cursor, where an offset would shift as members are tracked meanwhile).
   */
  readonly afterGuid?: Member.MemberGuid | undefined
}

/**
 * How many tracked members are in each status class (`null`: never observed).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClassCount {
  readonly statusClass: ConnectionStatus.StatusClass | null
  readonly count: number
}

/**
 * The tracked-members repository.
 *
 * @since 0.1.0
 * @category models
 */
export interface TrackedMembersService {
  /** Tracks a member (insert, or re-track and update owner/institution); returns it as stored. */
  readonly track: (input: TrackInput) => Effect.Effect<TrackedMember, StoreError>
  /** Tracks many members in a few multi-row statements (discovery of thousands of members). */
  readonly trackMany: (inputs: ReadonlyArray<TrackInput>) => Effect.Effect<void, StoreError>
  /** Stops tracking: the member keeps its history but is never due again until re-tracked. */
  readonly untrack: (memberGuid: Member.MemberGuid) => Effect.Effect<boolean, StoreError>
  readonly get: (memberGuid: Member.MemberGuid) => Effect.Effect<Option.Option<TrackedMember>, StoreError>
  /** Members ordered by guid, filtered. */
  readonly list: (options?: ListOptions) => Effect.Effect<ReadonlyArray<TrackedMember>, StoreError>
  /** Tracked members due at `now` with no active run, earliest first. */
  readonly listDue: (now: number, limit: number) => Effect.Effect<ReadonlyArray<TrackedMember>, StoreError>
  /** Tracked members whose run is active (claimed and not released). */
  readonly listActive: Effect.Effect<ReadonlyArray<TrackedMember>, StoreError>
  /** How many members `listDue(now, ∞)` would return, counted by the database (one row read). */
  readonly countDue: (now: number) => Effect.Effect<number, StoreError>
  /** How many members `listActive` would return, counted by the database (one row read). */
  readonly countActive: Effect.Effect<number, StoreError>
  /**
   * Sets the member's active run if it has none (or already has this one): a single conditional
   * UPDATE, so exactly one of several concurrent claimers (replicas) wins. `true` when `runId` holds
   * the member afterwards. A credential update in progress (a live `claimCredentialUpdate` of another
   * owner) keeps the member; a lapsed one, or the caller's own (`credentialUpdate`), passes to the run.
   * So does a submission of MFA answers whose outcome is not known yet (a live `PendingChallenges.claim`
   * on a round not closed as answered, e.g. one cancelled when its run ended): its resume may be on its
   * way to MX, and a new run would read the member beside it.
   */
  readonly claim: (memberGuid: Member.MemberGuid, runId: RunId, options?: ClaimOptions) => Effect.Effect<
    boolean,
    StoreError
  >
  /**
   * Clears the active run if it is `runId`; `true` when it was. The run's reads of the member are over:
   * the release counts as its last read (`lastReadAt`).
   */
  readonly release: (memberGuid: Member.MemberGuid, runId: RunId) => Effect.Effect<boolean, StoreError>
  /**
   * Holds the member for a credential update by `owner` until `expiresAt` (epoch ms): no run and no
   * other update may take it meanwhile. Only a member with no active run, and not held by another owner
   * (or held by one whose claim lapsed: a replica that died). The holder may call it again to extend
   * its claim. `true` when `owner` holds the member afterwards.
   */
  readonly claimCredentialUpdate: (
    memberGuid: Member.MemberGuid,
    owner: string,
    expiresAt: number
  ) => Effect.Effect<boolean, StoreError>
  /** Ends `owner`'s credential-update claim; `true` when it held the member. */
  readonly releaseCredentialUpdate: (memberGuid: Member.MemberGuid, owner: string) => Effect.Effect<boolean, StoreError>
  /** Records a read of the member at MX at `at` (epoch ms); an earlier time than the known one changes nothing. */
  readonly recordRead: (memberGuid: Member.MemberGuid, at: number) => Effect.Effect<boolean, StoreError>
  /** Records the status just observed (and its class); `false` when the member is unknown. */
  readonly recordObservation: (input: ObservationInput) => Effect.Effect<boolean, StoreError>
  /** Records what a run decided; returns the member as updated (its new failure count), if known. */
  readonly recordOutcome: (input: OutcomeInput) => Effect.Effect<Option.Option<TrackedMember>, StoreError>
  /** Schedules (or, with `null`, unschedules) the member. */
  readonly setNextDue: (memberGuid: Member.MemberGuid, nextDueAt: number | null) => Effect.Effect<boolean, StoreError>
  /** Records that the worker called aggregate for the member at `at` (for the 20-hour suppression rule). */
  readonly recordAggregateCalled: (memberGuid: Member.MemberGuid, at: number) => Effect.Effect<boolean, StoreError>
  /** Counts tracked members per status class, for summaries. */
  readonly countByStatusClass: Effect.Effect<ReadonlyArray<ClassCount>, StoreError>
}

/**
 * The tracked-members repository.
 *
 * @since 0.1.0
 * @category tags
 */
export class TrackedMembers
  extends Context.Tag("@mx-aggregation/store/TrackedMembers")<TrackedMembers, TrackedMembersService>()
{}

const decodeMembers = Schema.decodeUnknown(Schema.Array(TrackedMember))
const decodeCounts = Schema.decodeUnknown(Schema.Array(Schema.Struct({
  statusClass: nullableColumn(ConnectionStatus.StatusClass, "status_class"),
  count: column(DbInt, "n")
})))

const decodeCount = (rows: ReadonlyArray<unknown>) =>
  Effect.map(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ n: DbInt })))(rows), ([row]) => row.n)

/** Rows per multi-row INSERT: 7 parameters each, far below SQLite's and PostgreSQL's limits. */
const trackChunk = 500

/**
 * Builds the repository over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<TrackedMembersService, never, SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient

  const first = (rows: ReadonlyArray<unknown>) =>
    Effect.map(decodeMembers(rows), (members) => Option.fromNullable(members[0]))

  const selectOne = (memberGuid: Member.MemberGuid) =>
    sql`SELECT * FROM tracked_members WHERE member_guid = ${memberGuid}`.pipe(Effect.flatMap(first))

  // A new member is due at once unless told otherwise; a known member keeps its schedule unless a
  // `nextDueAt` is given. The two kinds go in separate statements so that each stays one plain upsert.
  const upsertChunk = (chunk: ReadonlyArray<TrackInput>, now: number, reschedule: boolean) =>
    sql`INSERT INTO tracked_members ${
      sql.insert(chunk.map((input) => ({
        member_guid: input.memberGuid,
        user_guid: input.userGuid,
        institution_code: input.institutionCode ?? null,
        tracked: 1,
        next_due_at: input.nextDueAt === undefined ? now : input.nextDueAt,
        created_at: now,
        updated_at: now
      })))
    } ON CONFLICT (member_guid) DO UPDATE SET
        user_guid = excluded.user_guid,
        institution_code = COALESCE(excluded.institution_code, tracked_members.institution_code),
        tracked = 1,
        next_due_at = ${sql.literal(reschedule ? "excluded.next_due_at" : "tracked_members.next_due_at")},
        updated_at = excluded.updated_at`

  const upsert = (inputs: ReadonlyArray<TrackInput>, now: number) => {
    const keep = inputs.filter((input) => input.nextDueAt === undefined)
    const reschedule = inputs.filter((input) => input.nextDueAt !== undefined)
    return Effect.all([
      Effect.forEach(chunksOf(keep, trackChunk), (chunk) => upsertChunk(chunk, now, false), { discard: true }),
      Effect.forEach(chunksOf(reschedule, trackChunk), (chunk) => upsertChunk(chunk, now, true), { discard: true })
    ], { discard: true })
  }

  const track = (input: TrackInput) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* upsert([input], now)
      const member = yield* selectOne(input.memberGuid)
      return yield* Option.match(member, {
        onNone: () => Effect.dieMessage(`TrackedMembers.track: ${input.memberGuid} missing after its upsert`),
        onSome: Effect.succeed
      })
    }).pipe(sql.withTransaction, operation("TrackedMembers.track"))

  const trackMany = (inputs: ReadonlyArray<TrackInput>) =>
    Effect.gen(function*() {
      if (inputs.length === 0) return
      const now = yield* Clock.currentTimeMillis
      yield* upsert(lastByKey(inputs, (input) => input.memberGuid), now)
    }).pipe(sql.withTransaction, operation("TrackedMembers.trackMany"))

  const untrack = (memberGuid: Member.MemberGuid) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members SET tracked = 0, updated_at = ${now}
        WHERE member_guid = ${memberGuid} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.untrack"))

  const get = (memberGuid: Member.MemberGuid) => selectOne(memberGuid).pipe(operation("TrackedMembers.get"))

  const list = (options: ListOptions = {}) => {
    const tracked = options.tracked ?? true
    const filters = [
      ...(tracked === "all" ? [] : [sql`tracked = ${tracked ? 1 : 0}`]),
      ...(options.userGuid === undefined ? [] : [sql`user_guid = ${options.userGuid}`]),
      ...(options.statusClass === undefined ? [] : [sql`status_class = ${options.statusClass}`]),
      ...(options.needsUser === undefined ? [] : [sql`needs_user = ${options.needsUser ? 1 : 0}`]),
      ...(options.afterGuid === undefined ? [] : [sql`member_guid > ${options.afterGuid}`])
    ]
    return sql`SELECT * FROM tracked_members WHERE ${sql.and(filters)} ORDER BY member_guid
      LIMIT ${options.limit ?? 1_000_000} OFFSET ${options.offset ?? 0}`.pipe(
      Effect.flatMap(decodeMembers),
      operation("TrackedMembers.list")
    )
  }

  const listDue = (now: number, limit: number) =>
    // The literal predicates match the partial index tracked_members_due.
    sql`SELECT * FROM tracked_members
      WHERE tracked = 1 AND active_run_id IS NULL AND next_due_at IS NOT NULL AND next_due_at <= ${now}
      ORDER BY next_due_at, member_guid LIMIT ${limit}`.pipe(
      Effect.flatMap(decodeMembers),
      operation("TrackedMembers.listDue")
    )

  const listActive = sql`SELECT * FROM tracked_members WHERE active_run_id IS NOT NULL ORDER BY claimed_at`.pipe(
    Effect.flatMap(decodeMembers),
    operation("TrackedMembers.listActive")
  )

  const countDue = (now: number) =>
    // The same predicates as `listDue`: the count runs on the partial index tracked_members_due.
    sql`SELECT COUNT(*) AS n FROM tracked_members
      WHERE tracked = 1 AND active_run_id IS NULL AND next_due_at IS NOT NULL AND next_due_at <= ${now}`.pipe(
      Effect.flatMap(decodeCount),
      operation("TrackedMembers.countDue")
    )

  const countActive = sql`SELECT COUNT(*) AS n FROM tracked_members WHERE active_run_id IS NOT NULL`.pipe(
    Effect.flatMap(decodeCount),
    operation("TrackedMembers.countActive")
  )

  /** A credential update's hold on the member. */
  const credentialUpdate = credentialUpdateLease(sql)
  /** A submission's hold on one of the member's MFA rounds (see `PendingChallenges.claim`). */
  const answersSubmission = answersSubmissionLease(sql, "p")

  const claim = (memberGuid: Member.MemberGuid, runId: RunId, options: ClaimOptions = {}) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // One statement: on PostgreSQL a concurrent claimer blocks on the row lock, then re-checks the
      // WHERE clause against the committed row and updates nothing. Claiming again with the same run
      // id (a retried activity) succeeds. A credential-update claim the run may take ends with it.
      const rows = yield* sql`UPDATE tracked_members
        SET active_run_id = ${runId},
            claimed_at = CASE WHEN active_run_id IS NULL THEN ${now} ELSE claimed_at END,
            ${credentialUpdate.end},
            updated_at = ${now}
        WHERE member_guid = ${memberGuid} AND tracked = 1 AND (active_run_id IS NULL OR active_run_id = ${runId})
          AND ${credentialUpdate.free(now, options.credentialUpdate)}
          AND (active_run_id = ${runId} OR NOT EXISTS (SELECT 1 FROM pending_challenges p
            WHERE p.member_guid = ${memberGuid} AND ${answersSubmission.held(now)}
              AND (p.resolution IS NULL OR p.resolution <> 'answered')))${
        options.lastReadBefore === undefined
          ? sql``
          : sql` AND (last_read_at IS NULL OR last_read_at <= ${options.lastReadBefore})`
      }
        RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.claim"))

  const release = (memberGuid: Member.MemberGuid, runId: RunId) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members SET active_run_id = NULL, claimed_at = NULL,
          last_read_at = CASE WHEN last_read_at IS NULL OR last_read_at < ${now} THEN ${now} ELSE last_read_at END,
          updated_at = ${now}
        WHERE member_guid = ${memberGuid} AND active_run_id = ${runId} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.release"))

  const claimCredentialUpdate = (memberGuid: Member.MemberGuid, owner: string, expiresAt: number) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // One conditional statement, like `claim`: of several concurrent callers exactly one wins.
      const rows = yield* sql`UPDATE tracked_members
        SET ${credentialUpdate.take(owner, expiresAt)}, updated_at = ${now}
        WHERE member_guid = ${memberGuid} AND tracked = 1 AND active_run_id IS NULL
          AND ${credentialUpdate.free(now, owner)}
        RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.claimCredentialUpdate"))

  const releaseCredentialUpdate = (memberGuid: Member.MemberGuid, owner: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members
        SET ${credentialUpdate.end}, updated_at = ${now}
        WHERE member_guid = ${memberGuid} AND ${credentialUpdate.heldBy(owner)} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.releaseCredentialUpdate"))

  const recordRead = (memberGuid: Member.MemberGuid, at: number) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members
        SET last_read_at = CASE WHEN last_read_at IS NULL OR last_read_at < ${at} THEN ${at} ELSE last_read_at END,
            updated_at = ${now}
        WHERE member_guid = ${memberGuid} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.recordRead"))

  const recordObservation = (input: ObservationInput) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members SET
          connection_status = ${input.status},
          status_class = ${ConnectionStatus.classify(input.status)},
          is_being_aggregated = ${input.isBeingAggregated === false || input.isBeingAggregated === undefined ? 0 : 1},
          observed_at = ${input.observedAt ?? now},
          successfully_aggregated_at = COALESCE(${input.successfullyAggregatedAt ?? null}, successfully_aggregated_at),
          updated_at = ${now}
        WHERE member_guid = ${input.memberGuid} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.recordObservation"))

  const recordOutcome = (input: OutcomeInput) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members SET
          next_action = ${input.nextAction},
          user_action = ${input.userAction},
          needs_user = ${input.needsUserReason === null ? 0 : 1},
          needs_user_reason = ${input.needsUserReason},
          next_due_at = ${input.nextDueAt},
          consecutive_failures = ${input.failed ? sql`consecutive_failures + 1` : sql`0`},
          updated_at = ${now}
        WHERE member_guid = ${input.memberGuid} RETURNING *`
      return yield* first(rows)
    }).pipe(operation("TrackedMembers.recordOutcome"))

  const setNextDue = (memberGuid: Member.MemberGuid, nextDueAt: number | null) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members SET next_due_at = ${nextDueAt}, updated_at = ${now}
        WHERE member_guid = ${memberGuid} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.setNextDue"))

  const recordAggregateCalled = (memberGuid: Member.MemberGuid, at: number) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql`UPDATE tracked_members SET last_aggregate_called_at = ${at}, updated_at = ${now}
        WHERE member_guid = ${memberGuid} RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("TrackedMembers.recordAggregateCalled"))

  const countByStatusClass = sql`SELECT status_class, COUNT(*) AS n FROM tracked_members WHERE tracked = 1
    GROUP BY status_class ORDER BY status_class`.pipe(
    Effect.flatMap(decodeCounts),
    operation("TrackedMembers.countByStatusClass")
  )

  return TrackedMembers.of({
    track,
    trackMany,
    untrack,
    get,
    list,
    listDue,
    listActive,
    countDue,
    countActive,
    claim,
    release,
    claimCredentialUpdate,
    releaseCredentialUpdate,
    recordRead,
    recordObservation,
    recordOutcome,
    setNextDue,
    recordAggregateCalled,
    countByStatusClass
  })
})

/**
 * The repository, over the `SqlClient` in context (migrated by a `Database` layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TrackedMembers, never, SqlClient> = Layer.effect(TrackedMembers, make)
