/**
 * Erasing everything the store keeps about one member, for a data-retention request: its accounts and
 * transactions, the pull watermark, its MFA challenges, its runs with the statuses they observed, its
 * partner events and its tracked row. Nothing at MX is touched.
 *
 * A member with an active run (or a credential update in progress) is refused rather than erased under
 * the run's feet: the run would go on writing (observations, challenges, accounts, events) after the
 * erasure. The tracked row is deleted first, on the condition that nothing holds it, in the same
 * transaction as the rest: a run that claims the member concurrently either wins (and the erasure is
 * refused) or finds no member to claim.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { Member } from "@mx-aggregation/domain"
import { Clock, Context, Effect, Layer, Schema } from "effect"
import { credentialUpdateLease } from "./internal/lease.js"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * The member cannot be erased now: a run is active for it (`ActiveRun`, with its id), or a credential
 * update holds it (`CredentialUpdate`). Both end by themselves; erase it afterwards.
 *
 * @since 0.1.0
 * @category errors
 */
export class MemberBusy extends Schema.TaggedError<MemberBusy>()("MemberBusy", {
  memberGuid: Member.MemberGuid,
  reason: Schema.Literal("ActiveRun", "CredentialUpdate"),
  runId: Schema.NullOr(Schema.String)
}) {
  override get message() {
    return this.reason === "ActiveRun"
      ? `Member ${this.memberGuid} has an active run (${this.runId}); erase it once the run has ended`
      : `Member ${this.memberGuid} is held by a credential update; erase it once the update is done`
  }
}

/**
 * How many rows of each table an erasure removed, and the ids of the runs it removed (the worker
 * erases their workflow journal too).
 *
 * @since 0.1.0
 * @category models
 */
export class Erased extends Schema.Class<Erased>("Erased")({
  trackedMembers: Schema.Number,
  runs: Schema.Number,
  runObservations: Schema.Number,
  pendingChallenges: Schema.Number,
  accounts: Schema.Number,
  transactions: Schema.Number,
  pullWatermarks: Schema.Number,
  outboxEvents: Schema.Number,
  runIds: Schema.Array(Schema.String)
}) {
  /** Whether anything at all was stored for the member. */
  get total(): number {
    return this.trackedMembers + this.runs + this.runObservations + this.pendingChallenges + this.accounts +
      this.transactions + this.pullWatermarks + this.outboxEvents
  }
}

/**
 * The erasure service.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErasureService {
  /**
   * Deletes every row of the member in every table of the store, in one transaction; refused with
   * `MemberBusy` (nothing deleted) while a run or a credential update holds the member. Erasing a
   * member the store knows nothing of removes nothing (every count 0).
   */
  readonly eraseMember: (memberGuid: Member.MemberGuid) => Effect.Effect<Erased, StoreError | MemberBusy>
}

/**
 * The erasure service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Erasure extends Context.Tag("@mx-aggregation/store/Erasure")<Erasure, ErasureService>() {}

const Holder = Schema.Struct({
  active_run_id: Schema.NullOr(Schema.String),
  credential_update_by: Schema.NullOr(Schema.String)
})
const decodeHolders = Schema.decodeUnknown(Schema.Array(Holder))

/**
 * Builds the service over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ErasureService, never, SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient

  const attempt = (memberGuid: Member.MemberGuid) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // First, and only when nothing holds the member: from here on no run can claim it.
      const tracked = yield* sql`DELETE FROM tracked_members
        WHERE member_guid = ${memberGuid} AND active_run_id IS NULL
          AND ${credentialUpdateLease(sql).free(now)}
        RETURNING member_guid`
      if (tracked.length === 0) {
        const [holder] = yield* sql`SELECT active_run_id, credential_update_by FROM tracked_members
          WHERE member_guid = ${memberGuid}`.pipe(Effect.flatMap(decodeHolders))
        if (holder !== undefined) {
          return new MemberBusy({
            memberGuid,
            reason: holder.active_run_id !== null ? "ActiveRun" : "CredentialUpdate",
            runId: holder.active_run_id
          })
        }
      }
      const runObservations = yield* sql`DELETE FROM run_observations
        WHERE run_id IN (SELECT run_id FROM aggregation_runs WHERE member_guid = ${memberGuid}) RETURNING id`
      const runs = yield* sql`DELETE FROM aggregation_runs WHERE member_guid = ${memberGuid} RETURNING run_id`
      const pendingChallenges = yield* sql`DELETE FROM pending_challenges WHERE member_guid = ${memberGuid}
        RETURNING id`
      const transactions = yield* sql`DELETE FROM transactions WHERE member_guid = ${memberGuid} RETURNING guid`
      const accounts = yield* sql`DELETE FROM accounts WHERE member_guid = ${memberGuid} RETURNING guid`
      const pullWatermarks = yield* sql`DELETE FROM pull_watermarks WHERE member_guid = ${memberGuid}
        RETURNING member_guid`
      const outboxEvents = yield* sql`DELETE FROM outbox_events WHERE member_guid = ${memberGuid} RETURNING id`
      return new Erased({
        trackedMembers: tracked.length,
        runs: runs.length,
        runObservations: runObservations.length,
        pendingChallenges: pendingChallenges.length,
        accounts: accounts.length,
        transactions: transactions.length,
        pullWatermarks: pullWatermarks.length,
        outboxEvents: outboxEvents.length,
        runIds: runs.map((row) => String(row["run_id"])).sort()
      })
    }).pipe(sql.withTransaction, operation("Erasure.eraseMember"))

  const eraseMember: ErasureService["eraseMember"] = (memberGuid) =>
    // Refused inside the transaction (which then commits nothing), failed outside it.
    Effect.flatMap(attempt(memberGuid), (result) =>
      result instanceof MemberBusy ? Effect.fail(result) : Effect.succeed(result))

  return Erasure.of({ eraseMember })
})

/**
 * The service, over the `SqlClient` in context (migrated by a `Database` layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Erasure, never, SqlClient> = Layer.effect(Erasure, make)
