/**
 * MFA challenges waiting for the end user's answers. Only the questions are stored (MX's challenge
 * objects: guid, type, label, options); the answers go from the control API to MX and are never
 * written anywhere.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { Member } from "@mx-aggregation/domain"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { RunId } from "./AggregationRuns.js"
import { column, DbInt, Millis, nullableColumn } from "./internal/columns.js"
import { answersSubmissionLease } from "./internal/lease.js"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * How a pending challenge was settled.
 *
 * - `answered`: answers were sent to MX (resume).
 * - `expired`: nobody answered in time; the member needs the user present.
 * - `superseded`: a newer challenge (the next MFA round, or a new run) replaced it.
 * - `cancelled`: the run ended otherwise (the member left CHALLENGED).
 *
 * @since 0.1.0
 * @category models
 */
export const Resolution = Schema.Literal("answered", "expired", "superseded", "cancelled")

/**
 * @since 0.1.0
 * @category models
 */
export type Resolution = typeof Resolution.Type

/**
 * The stored form of the challenges: JSON text of MX challenge objects.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChallengesJson = Schema.parseJson(Schema.Array(Member.Challenge))

/**
 * A set of challenges of one MFA round, as stored. Times are epoch milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export class PendingChallenge extends Schema.Class<PendingChallenge>("PendingChallenge")({
  id: DbInt,
  memberGuid: column(Member.MemberGuid, "member_guid"),
  runId: column(RunId, "run_id"),
  challenges: ChallengesJson,
  createdAt: column(Millis, "created_at"),
  /** When the worker gives up waiting (MX expires the member too); `null`: no deadline recorded. */
  expiresAt: nullableColumn(Millis, "expires_at"),
  resolvedAt: nullableColumn(Millis, "resolved_at"),
  resolution: Schema.NullOr(Resolution),
  /**
   * Who is submitting answers to this open round (see `claim`); `null`: nobody. A round claimed and
   * still open is being answered: MX's answer to the resume is awaited, or unknown.
   */
  claimedBy: nullableColumn(Schema.String, "claimed_by"),
  /** When that claim lapses: from then on another submission may take the round over. */
  claimExpiresAt: nullableColumn(Millis, "claim_expires_at")
}) {}

/**
 * The pending-challenges repository.
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingChallengesService {
  /**
   * Records the challenges of a new MFA round for the member and supersedes any older open round.
   * Idempotent: the same run adding the same challenges again while they are open gets the stored
   * row back (a retried activity).
   */
  readonly add: (input: {
    readonly memberGuid: Member.MemberGuid
    readonly runId: RunId
    readonly challenges: ReadonlyArray<Member.Challenge>
    readonly createdAt?: number | undefined
    readonly expiresAt?: number | null | undefined
  }) => Effect.Effect<PendingChallenge, StoreError>
  /** The member's open challenges, if any. */
  readonly current: (memberGuid: Member.MemberGuid) => Effect.Effect<Option.Option<PendingChallenge>, StoreError>
  /** Every open challenge, oldest first (`afterId`: only those after that row, the previous page's last). */
  readonly listPending: (options?: {
    readonly limit?: number | undefined
    readonly afterId?: number | undefined
  }) => Effect.Effect<ReadonlyArray<PendingChallenge>, StoreError>
  /** How many challenge rounds are open, counted by the database (one row read). */
  readonly countPending: Effect.Effect<number, StoreError>
  /** The member's challenge rounds, newest first (open or settled). */
  readonly listByMember: (
    memberGuid: Member.MemberGuid,
    options?: { readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<PendingChallenge>, StoreError>
  /**
   * Claims the open round `id` for `owner` until `expiresAt` (epoch ms), before its answers go to MX: a
   * single conditional UPDATE, so of several concurrent submissions (through several replicas) exactly
   * one wins. Only an open round that nobody else holds, or whose claim lapsed (a replica that died with
   * MX's answer unknown), is taken; the owner may call it again to extend its claim. `true` when `owner`
   * holds the round afterwards.
   */
  readonly claim: (input: {
    readonly id: number
    readonly owner: string
    readonly expiresAt: number
  }) => Effect.Effect<boolean, StoreError>
  /** Ends `owner`'s claim on the open round `id` (MX did not act on its answers); `true` when it held it. */
  readonly releaseClaim: (input: { readonly id: number; readonly owner: string }) => Effect.Effect<boolean, StoreError>
  /** Settles the member's open challenges; `true` when there were some. */
  readonly resolve: (input: {
    readonly memberGuid: Member.MemberGuid
    readonly resolution: Resolution
    /** Only if they belong to this run. */
    readonly runId?: RunId | undefined
    readonly resolvedAt?: number | undefined
  }) => Effect.Effect<boolean, StoreError>
}

/**
 * The pending-challenges repository.
 *
 * @since 0.1.0
 * @category tags
 */
export class PendingChallenges
  extends Context.Tag("@mx-aggregation/store/PendingChallenges")<PendingChallenges, PendingChallengesService>()
{}

const decodeRows = Schema.decodeUnknown(Schema.Array(PendingChallenge))
const encodeChallenges = Schema.encode(ChallengesJson)

/**
 * Builds the repository over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<PendingChallengesService, never, SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient

  const openOf = (memberGuid: Member.MemberGuid) =>
    sql`SELECT * FROM pending_challenges WHERE member_guid = ${memberGuid} AND resolved_at IS NULL
      ORDER BY id DESC`.pipe(Effect.flatMap(decodeRows))

  const add: PendingChallengesService["add"] = (input) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const createdAt = input.createdAt ?? now
      // Encoding through the Challenge Schema keeps only MX's challenge fields: whatever else an
      // object carries (an answer, a credential) never reaches the table.
      const challenges = yield* encodeChallenges(input.challenges)
      const open = yield* openOf(input.memberGuid)
      const same = open.find((row) =>
        row.runId === input.runId && Schema.encodeSync(ChallengesJson)(row.challenges) === challenges
      )
      if (same !== undefined) return same
      if (open.length > 0) {
        yield* sql`UPDATE pending_challenges SET resolved_at = ${createdAt}, resolution = ${"superseded"}
          WHERE member_guid = ${input.memberGuid} AND resolved_at IS NULL`
      }
      const rows = yield* sql`INSERT INTO pending_challenges ${
        sql.insert({
          member_guid: input.memberGuid,
          run_id: input.runId,
          challenges,
          created_at: createdAt,
          expires_at: input.expiresAt ?? null
        })
      } RETURNING *`
      const [row] = yield* decodeRows(rows)
      return row!
    }).pipe(sql.withTransaction, operation("PendingChallenges.add"))

  const current: PendingChallengesService["current"] = (memberGuid) =>
    openOf(memberGuid).pipe(
      Effect.map((rows) => Option.fromNullable(rows[0])),
      operation("PendingChallenges.current")
    )

  const listPending: PendingChallengesService["listPending"] = (options) =>
    sql`SELECT * FROM pending_challenges WHERE resolved_at IS NULL AND id > ${options?.afterId ?? 0}
      ORDER BY id LIMIT ${options?.limit ?? 10_000}`.pipe(
      Effect.flatMap(decodeRows),
      operation("PendingChallenges.listPending")
    )

  // On the partial index pending_challenges_open.
  const countPending = sql`SELECT COUNT(*) AS n FROM pending_challenges WHERE resolved_at IS NULL`.pipe(
    Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ n: DbInt })))),
    Effect.map(([row]) => row.n),
    operation("PendingChallenges.countPending")
  )

  const listByMember: PendingChallengesService["listByMember"] = (memberGuid, options) =>
    sql`SELECT * FROM pending_challenges WHERE member_guid = ${memberGuid} ORDER BY id DESC
      LIMIT ${options?.limit ?? 100}`.pipe(
      Effect.flatMap(decodeRows),
      operation("PendingChallenges.listByMember")
    )

  const resolve: PendingChallengesService["resolve"] = (input) =>
    Effect.gen(function*() {
      const resolvedAt = input.resolvedAt ?? (yield* Clock.currentTimeMillis)
      const rows =
        yield* sql`UPDATE pending_challenges SET resolved_at = ${resolvedAt}, resolution = ${input.resolution}
        WHERE member_guid = ${input.memberGuid} AND resolved_at IS NULL ${
          input.runId === undefined ? sql`` : sql`AND run_id = ${input.runId}`
        } RETURNING id`
      return rows.length > 0
    }).pipe(operation("PendingChallenges.resolve"))

  /** A submission's hold on a round. */
  const submission = answersSubmissionLease(sql)

  const claim: PendingChallengesService["claim"] = (input) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // On PostgreSQL a concurrent claimer blocks on the row lock, then re-checks the WHERE clause
      // against the committed row and updates nothing; SQLite runs one writer at a time.
      const rows = yield* sql`UPDATE pending_challenges SET ${submission.take(input.owner, input.expiresAt)}
        WHERE id = ${input.id} AND resolved_at IS NULL AND ${submission.free(now, input.owner)}
        RETURNING id`
      return rows.length > 0
    }).pipe(operation("PendingChallenges.claim"))

  const releaseClaim: PendingChallengesService["releaseClaim"] = (input) =>
    sql`UPDATE pending_challenges SET ${submission.end}
      WHERE id = ${input.id} AND resolved_at IS NULL AND ${submission.heldBy(input.owner)} RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      operation("PendingChallenges.releaseClaim")
    )

  return PendingChallenges.of({
    add,
    current,
    listPending,
    countPending,
    listByMember,
    claim,
    releaseClaim,
    resolve
  })
})

/**
 * The repository, over the `SqlClient` in context (migrated by a `Database` layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<PendingChallenges, never, SqlClient> = Layer.effect(PendingChallenges, make)
