/**
 * The outbox of events for the partner: appended in the same database as the state they describe,
 * delivered later (webhook, queue, polling API) and marked delivered. Ids are monotonic, so "in order"
 * means "by id".
 *
 * Ids are also committed in order, which is what lets a reader page through the feed by id
 * (`listAfter`) without ever skipping an event: on PostgreSQL an identity value is taken when a row is
 * inserted, not when its transaction commits, so two appenders could commit ids 11 then 10, and a
 * reader that saw 11 first would never see 10. Appending takes a transaction-scoped advisory lock
 * before it inserts, so the next append waits for the previous appender's commit. SQLite runs one
 * writer at a time, which gives the same order.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { Member, RunOutcome } from "@mx-aggregation/domain"
import { Clock, Context, Effect, Layer, Schema } from "effect"
import { column, DbInt, Millis, nullableColumn } from "./internal/columns.js"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * The kinds of partner event: the domain's `RunOutcome.EventType`, as stored.
 *
 * @since 0.1.0
 * @category models
 */
export const EventType = RunOutcome.EventType

/**
 * @since 0.1.0
 * @category models
 */
export type EventType = RunOutcome.EventType

/**
 * A monotonic event id.
 *
 * @since 0.1.0
 * @category ids
 */
export const EventId = DbInt.pipe(Schema.brand("EventId"))

/**
 * @since 0.1.0
 * @category ids
 */
export type EventId = typeof EventId.Type

/**
 * An event as stored. `payload` is any JSON value. Times are epoch milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export class OutboxEvent extends Schema.Class<OutboxEvent>("OutboxEvent")({
  id: EventId,
  memberGuid: column(Member.MemberGuid, "member_guid"),
  userGuid: nullableColumn(Member.UserGuid, "user_guid"),
  type: EventType,
  payload: Schema.parseJson(),
  createdAt: column(Millis, "created_at"),
  deliveredAt: nullableColumn(Millis, "delivered_at")
}) {}

/**
 * An event to append.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendInput {
  readonly memberGuid: Member.MemberGuid
  readonly userGuid?: Member.UserGuid | null | undefined
  readonly type: EventType
  /** A JSON-serialisable value. `Redacted` values serialise as `<redacted>`. */
  readonly payload: unknown
  readonly createdAt?: number | undefined
}

/**
 * The outbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxService {
  /** Appends an event; returns it with its id. */
  readonly append: (input: AppendInput) => Effect.Effect<OutboxEvent, StoreError>
  /** Undelivered events in id order (per member, and overall), optionally of one member. */
  readonly undelivered: (options?: {
    readonly memberGuid?: Member.MemberGuid | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<OutboxEvent>, StoreError>
  /** Marks events delivered; returns how many were not delivered before. */
  readonly markDelivered: (ids: ReadonlyArray<EventId>, deliveredAt?: number) => Effect.Effect<number, StoreError>
  /**
   * Events after `afterId` (all events when absent) in id order, at most `limit`, filtered: the
   * lossless way to read the feed. Pass the last id received as `afterId` to read the next page.
   */
  readonly listAfter: (options: {
    readonly afterId?: EventId | undefined
    readonly limit: number
    readonly memberGuid?: Member.MemberGuid | undefined
  }) => Effect.Effect<ReadonlyArray<OutboxEvent>, StoreError>
  /**
   * The newest events, newest first, filtered (`afterId`: only newer than it). For a glance at what
   * happened lately; a reader that pages with it skips events, `listAfter` is the feed.
   */
  readonly listRecent: (options?: {
    readonly memberGuid?: Member.MemberGuid | undefined
    readonly userGuid?: Member.UserGuid | undefined
    readonly type?: EventType | undefined
    readonly afterId?: EventId | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<OutboxEvent>, StoreError>
}

/**
 * The outbox.
 *
 * @since 0.1.0
 * @category tags
 */
export class Outbox extends Context.Tag("@mx-aggregation/store/Outbox")<Outbox, OutboxService>() {}

const decodeEvents = Schema.decodeUnknown(Schema.Array(OutboxEvent))

/**
 * The advisory-lock key that orders appends on PostgreSQL (any constant shared by every replica; it
 * spells "outbox" in ASCII).
 *
 * @since 0.1.0
 * @category constants
 */
export const appendLockKey = 0x6f7574626f78

/**
 * Builds the outbox over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<OutboxService, never, SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient

  // Held until the enclosing transaction ends (a caller's, such as a run's ending, or the one below):
  // the next appender takes its id only after this one's commit.
  const orderAppends = sql.onDialectOrElse({
    pg: () => sql`SELECT pg_advisory_xact_lock(${appendLockKey})`.pipe(Effect.asVoid),
    orElse: () => Effect.void
  })

  const append: OutboxService["append"] = (input) =>
    Effect.gen(function*() {
      const createdAt = input.createdAt ?? (yield* Clock.currentTimeMillis)
      yield* orderAppends
      const rows = yield* sql`INSERT INTO outbox_events ${
        sql.insert({
          member_guid: input.memberGuid,
          user_guid: input.userGuid ?? null,
          type: input.type,
          payload: JSON.stringify(input.payload ?? null),
          created_at: createdAt
        })
      } RETURNING *`
      const [event] = yield* decodeEvents(rows)
      return event!
    }).pipe(sql.withTransaction, operation("Outbox.append"))

  const undelivered: OutboxService["undelivered"] = (options) =>
    sql`SELECT * FROM outbox_events WHERE delivered_at IS NULL ${
      options?.memberGuid === undefined ? sql`` : sql`AND member_guid = ${options.memberGuid}`
    } ORDER BY id LIMIT ${options?.limit ?? 1_000}`.pipe(
      Effect.flatMap(decodeEvents),
      operation("Outbox.undelivered")
    )

  const markDelivered: OutboxService["markDelivered"] = (ids, deliveredAt) =>
    Effect.gen(function*() {
      if (ids.length === 0) return 0
      const at = deliveredAt ?? (yield* Clock.currentTimeMillis)
      const rows = yield* sql`UPDATE outbox_events SET delivered_at = ${at}
        WHERE ${sql.in("id", ids)} AND delivered_at IS NULL RETURNING id`
      return rows.length
    }).pipe(operation("Outbox.markDelivered"))

  const listAfter: OutboxService["listAfter"] = (options) => {
    const filters = [
      sql`id > ${options.afterId ?? 0}`,
      ...(options.memberGuid === undefined ? [] : [sql`member_guid = ${options.memberGuid}`])
    ]
    return sql`SELECT * FROM outbox_events WHERE ${sql.and(filters)} ORDER BY id LIMIT ${options.limit}`
      .pipe(Effect.flatMap(decodeEvents), operation("Outbox.listAfter"))
  }

  const listRecent: OutboxService["listRecent"] = (options) => {
    const filters = [
      ...(options?.memberGuid === undefined ? [] : [sql`member_guid = ${options.memberGuid}`]),
      ...(options?.userGuid === undefined ? [] : [sql`user_guid = ${options.userGuid}`]),
      ...(options?.type === undefined ? [] : [sql`type = ${options.type}`]),
      ...(options?.afterId === undefined ? [] : [sql`id > ${options.afterId}`])
    ]
    return sql`SELECT * FROM outbox_events WHERE ${sql.and(filters)} ORDER BY id DESC LIMIT ${options?.limit ?? 100}`
      .pipe(Effect.flatMap(decodeEvents), operation("Outbox.listRecent"))
  }

  return Outbox.of({ append, undelivered, markDelivered, listAfter, listRecent })
})

/**
 * The outbox, over the `SqlClient` in context (migrated by a `Database` layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Outbox, never, SqlClient> = Layer.effect(Outbox, make)
