/**
 * Accounts and transactions pulled from MX, upserted by guid, and the per-member watermark that makes
 * the next pull incremental. Models keep MX's own field names, so an MX account or transaction object
 * (the domain's `Account` and `Transaction`, which `@mx-aggregation/mx-api` decodes) can be passed as
 * it is; the whole object is also kept as JSON (`raw`), so fields without a column are not lost.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { type Account, Member, type Transaction } from "@mx-aggregation/domain"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { chunksOf, column, DbInt, lastByKey, Millis, nullableColumn } from "./internal/columns.js"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * An MX account as given to `upsertAccounts`: its guid, and any of the fields the store keeps (the
 * domain's `Account.Account`, decoded or as MX sent it, fits).
 *
 * @since 0.1.0
 * @category models
 */
export type AccountInput = Pick<
  typeof Account.Account.Encoded,
  "guid" | "name" | "type" | "subtype" | "balance" | "available_balance" | "currency_code" | "updated_at"
>

/**
 * An MX transaction as given to `upsertTransactions` (the domain's `Transaction.Transaction` fits).
 *
 * @since 0.1.0
 * @category models
 */
export type TransactionInput = Pick<
  typeof Transaction.Transaction.Encoded,
  | "guid"
  | "account_guid"
  | "amount"
  | "date"
  | "description"
  | "status"
  | "category"
  | "type"
  | "currency_code"
  | "created_at"
  | "updated_at"
>

const MoneyColumn = Schema.NullOr(Schema.Union(Schema.Number, Schema.NumberFromString))

/**
 * A stored account. `raw` is the object as it was given, as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export class StoredAccount extends Schema.Class<StoredAccount>("StoredAccount")({
  guid: Schema.String,
  member_guid: Member.MemberGuid,
  user_guid: Member.UserGuid,
  name: Schema.NullOr(Schema.String),
  type: Schema.NullOr(Schema.String),
  subtype: Schema.NullOr(Schema.String),
  balance: MoneyColumn,
  available_balance: MoneyColumn,
  currency_code: Schema.NullOr(Schema.String),
  updated_at: Schema.NullOr(Schema.String),
  raw: Schema.String,
  stored_at: Millis
}) {}

/**
 * A stored transaction. `raw` is the object as it was given, as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export class StoredTransaction extends Schema.Class<StoredTransaction>("StoredTransaction")({
  guid: Schema.String,
  account_guid: Schema.NullOr(Schema.String),
  member_guid: Member.MemberGuid,
  user_guid: Member.UserGuid,
  amount: MoneyColumn,
  date: Schema.NullOr(Schema.String),
  description: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.String),
  category: Schema.NullOr(Schema.String),
  type: Schema.NullOr(Schema.String),
  currency_code: Schema.NullOr(Schema.String),
  created_at: Schema.NullOr(Schema.String),
  updated_at: Schema.NullOr(Schema.String),
  raw: Schema.String,
  stored_at: Millis
}) {}

/**
 * Where the last pull of a member got to. `maxUpdatedAt` is the greatest MX `updated_at` seen, as MX
 * wrote it (pass its date as `from_updated_at` next time); `lastPulledAt` is when the pull finished
 * (epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export class Watermark extends Schema.Class<Watermark>("Watermark")({
  memberGuid: column(Member.MemberGuid, "member_guid"),
  maxUpdatedAt: nullableColumn(Schema.String, "max_updated_at"),
  lastPulledAt: column(Millis, "last_pulled_at")
}) {}

/**
 * Stored data counts of one member.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  readonly accounts: number
  readonly transactions: number
}

/**
 * The accounts-and-transactions repository.
 *
 * @since 0.1.0
 * @category models
 */
export interface AccountsAndTransactionsService {
  /** Inserts or updates accounts by guid, owned by the given member; returns how many were written. */
  readonly upsertAccounts: (input: {
    readonly memberGuid: Member.MemberGuid
    readonly userGuid: Member.UserGuid
    readonly accounts: ReadonlyArray<AccountInput>
  }) => Effect.Effect<number, StoreError>
  /**
   * Inserts or updates transactions by guid in multi-row statements (one per few hundred rows, in one
   * database transaction); returns how many were written.
   */
  readonly upsertTransactions: (input: {
    readonly memberGuid: Member.MemberGuid
    readonly userGuid: Member.UserGuid
    readonly transactions: ReadonlyArray<TransactionInput>
  }) => Effect.Effect<number, StoreError>
  readonly watermark: (memberGuid: Member.MemberGuid) => Effect.Effect<Option.Option<Watermark>, StoreError>
  /**
   * Records a finished pull: `lastPulledAt` is set, `maxUpdatedAt` only moves forward (an older or
   * missing value keeps the stored one). Call it after the data is upserted, so a crash in between
   * pulls again rather than skipping data.
   */
  readonly advanceWatermark: (input: {
    readonly memberGuid: Member.MemberGuid
    readonly maxUpdatedAt: string | null
    readonly pulledAt?: number | undefined
  }) => Effect.Effect<Watermark, StoreError>
  readonly counts: (memberGuid: Member.MemberGuid) => Effect.Effect<Counts, StoreError>
  /** Totals over all members. */
  readonly totals: Effect.Effect<Counts, StoreError>
  readonly listAccounts: (memberGuid: Member.MemberGuid) => Effect.Effect<ReadonlyArray<StoredAccount>, StoreError>
  /** The member's transactions, newest `date` first. */
  readonly listTransactions: (
    memberGuid: Member.MemberGuid,
    options?: {
      readonly accountGuid?: string | undefined
      readonly limit?: number | undefined
      readonly offset?: number | undefined
    }
  ) => Effect.Effect<ReadonlyArray<StoredTransaction>, StoreError>
}

/**
 * The accounts-and-transactions repository.
 *
 * @since 0.1.0
 * @category tags
 */
export class AccountsAndTransactions extends Context.Tag("@mx-aggregation/store/AccountsAndTransactions")<
  AccountsAndTransactions,
  AccountsAndTransactionsService
>() {}

/**
 * The greatest MX `updated_at` among `items` (compared as instants; unparsable values are ignored).
 *
 * @since 0.1.0
 * @category watermark
 */
export const maxUpdatedAt = (items: Iterable<{ readonly updated_at?: string | null | undefined }>): string | null => {
  let best: string | null = null
  let bestMs = Number.NEGATIVE_INFINITY
  for (const item of items) {
    const value = item.updated_at
    if (value === null || value === undefined) continue
    const ms = Date.parse(value)
    if (!Number.isNaN(ms) && ms > bestMs) {
      best = value
      bestMs = ms
    }
  }
  return best
}

const decodeAccounts = Schema.decodeUnknown(Schema.Array(StoredAccount))
const decodeTransactions = Schema.decodeUnknown(Schema.Array(StoredTransaction))
const decodeWatermarks = Schema.decodeUnknown(Schema.Array(Watermark))
const decodeCounts = Schema.decodeUnknown(Schema.Array(Schema.Struct({ accounts: DbInt, transactions: DbInt })))

/**
 * Rows per multi-row statement: 15 parameters each, 7,500 a statement, below SQLite's 32,766 and
 * PostgreSQL's 65,535 parameter limits, and large enough that a statement's cost is the rows.
 *
 * @since 0.1.0
 * @category constants
 */
export const batchSize = 500

/**
 * Builds the repository over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<AccountsAndTransactionsService, never, SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient

  const upsertAccounts: AccountsAndTransactionsService["upsertAccounts"] = (input) =>
    Effect.gen(function*() {
      const accounts = lastByKey(input.accounts, (account) => account.guid)
      if (accounts.length === 0) return 0
      const now = yield* Clock.currentTimeMillis
      yield* Effect.forEach(chunksOf(accounts, batchSize), (chunk) =>
        sql`INSERT INTO accounts ${
          sql.insert(chunk.map((account) => ({
            guid: account.guid,
            member_guid: input.memberGuid,
            user_guid: input.userGuid,
            name: account.name ?? null,
            type: account.type ?? null,
            subtype: account.subtype ?? null,
            balance: account.balance ?? null,
            available_balance: account.available_balance ?? null,
            currency_code: account.currency_code ?? null,
            updated_at: account.updated_at ?? null,
            raw: JSON.stringify(account),
            stored_at: now
          })))
        } ON CONFLICT (guid) DO UPDATE SET
          member_guid = excluded.member_guid,
          user_guid = excluded.user_guid,
          name = excluded.name,
          type = excluded.type,
          subtype = excluded.subtype,
          balance = excluded.balance,
          available_balance = excluded.available_balance,
          currency_code = excluded.currency_code,
          updated_at = excluded.updated_at,
          raw = excluded.raw,
          stored_at = excluded.stored_at`, { discard: true })
      return accounts.length
    }).pipe(sql.withTransaction, operation("AccountsAndTransactions.upsertAccounts"))

  const upsertTransactions: AccountsAndTransactionsService["upsertTransactions"] = (input) =>
    Effect.gen(function*() {
      const transactions = lastByKey(input.transactions, (transaction) => transaction.guid)
      if (transactions.length === 0) return 0
      const now = yield* Clock.currentTimeMillis
      yield* Effect.forEach(chunksOf(transactions, batchSize), (chunk) =>
        sql`INSERT INTO transactions ${
          sql.insert(chunk.map((transaction) => ({
            guid: transaction.guid,
            account_guid: transaction.account_guid ?? null,
            member_guid: input.memberGuid,
            user_guid: input.userGuid,
            amount: transaction.amount ?? null,
            date: transaction.date ?? null,
            description: transaction.description ?? null,
            status: transaction.status ?? null,
            category: transaction.category ?? null,
            type: transaction.type ?? null,
            currency_code: transaction.currency_code ?? null,
            created_at: transaction.created_at ?? null,
            updated_at: transaction.updated_at ?? null,
            raw: JSON.stringify(transaction),
            stored_at: now
          })))
        } ON CONFLICT (guid) DO UPDATE SET
          account_guid = excluded.account_guid,
          member_guid = excluded.member_guid,
          user_guid = excluded.user_guid,
          amount = excluded.amount,
          date = excluded.date,
          description = excluded.description,
          status = excluded.status,
          category = excluded.category,
          type = excluded.type,
          currency_code = excluded.currency_code,
          created_at = excluded.created_at,
          updated_at = excluded.updated_at,
          raw = excluded.raw,
          stored_at = excluded.stored_at`, { discard: true })
      return transactions.length
    }).pipe(sql.withTransaction, operation("AccountsAndTransactions.upsertTransactions"))

  const selectWatermark = (memberGuid: Member.MemberGuid) =>
    sql`SELECT member_guid, max_updated_at, last_pulled_at FROM pull_watermarks WHERE member_guid = ${memberGuid}`.pipe(
      Effect.flatMap(decodeWatermarks),
      Effect.map((rows) => Option.fromNullable(rows[0]))
    )

  const watermark: AccountsAndTransactionsService["watermark"] = (memberGuid) =>
    selectWatermark(memberGuid).pipe(operation("AccountsAndTransactions.watermark"))

  const advanceWatermark: AccountsAndTransactionsService["advanceWatermark"] = (input) =>
    Effect.gen(function*() {
      const pulledAt = input.pulledAt ?? (yield* Clock.currentTimeMillis)
      const parsed = input.maxUpdatedAt === null ? Number.NaN : Date.parse(input.maxUpdatedAt)
      const [value, ms] = Number.isNaN(parsed) ? [null, null] : [input.maxUpdatedAt, parsed]
      // The comparison runs on the parsed instant (max_updated_at_ms), not on MX's text, whose offset
      // notation may vary.
      yield* sql`INSERT INTO pull_watermarks ${
        sql.insert({
          member_guid: input.memberGuid,
          max_updated_at: value,
          max_updated_at_ms: ms,
          last_pulled_at: pulledAt
        })
      } ON CONFLICT (member_guid) DO UPDATE SET
          max_updated_at = CASE
            WHEN pull_watermarks.max_updated_at_ms IS NULL OR excluded.max_updated_at_ms > pull_watermarks.max_updated_at_ms
            THEN excluded.max_updated_at ELSE pull_watermarks.max_updated_at END,
          max_updated_at_ms = CASE
            WHEN pull_watermarks.max_updated_at_ms IS NULL OR excluded.max_updated_at_ms > pull_watermarks.max_updated_at_ms
            THEN excluded.max_updated_at_ms ELSE pull_watermarks.max_updated_at_ms END,
          last_pulled_at = excluded.last_pulled_at`
      const stored = yield* selectWatermark(input.memberGuid)
      return yield* Option.match(stored, {
        onNone: () => Effect.dieMessage(`AccountsAndTransactions.advanceWatermark: ${input.memberGuid} missing`),
        onSome: Effect.succeed
      })
    }).pipe(sql.withTransaction, operation("AccountsAndTransactions.advanceWatermark"))

  const counts: AccountsAndTransactionsService["counts"] = (memberGuid) =>
    sql`SELECT
        (SELECT COUNT(*) FROM accounts WHERE member_guid = ${memberGuid}) AS accounts,
        (SELECT COUNT(*) FROM transactions WHERE member_guid = ${memberGuid}) AS transactions`.pipe(
      Effect.flatMap(decodeCounts),
      Effect.map((rows) => rows[0] ?? { accounts: 0, transactions: 0 }),
      operation("AccountsAndTransactions.counts")
    )

  const totals = sql`SELECT
      (SELECT COUNT(*) FROM accounts) AS accounts,
      (SELECT COUNT(*) FROM transactions) AS transactions`.pipe(
    Effect.flatMap(decodeCounts),
    Effect.map((rows) => rows[0] ?? { accounts: 0, transactions: 0 }),
    operation("AccountsAndTransactions.totals")
  )

  const listAccounts: AccountsAndTransactionsService["listAccounts"] = (memberGuid) =>
    sql`SELECT * FROM accounts WHERE member_guid = ${memberGuid} ORDER BY guid`.pipe(
      Effect.flatMap(decodeAccounts),
      operation("AccountsAndTransactions.listAccounts")
    )

  const listTransactions: AccountsAndTransactionsService["listTransactions"] = (memberGuid, options) =>
    sql`SELECT * FROM transactions WHERE member_guid = ${memberGuid} ${
      options?.accountGuid === undefined ? sql`` : sql`AND account_guid = ${options.accountGuid}`
    } ORDER BY date DESC NULLS LAST, guid LIMIT ${options?.limit ?? 1_000} OFFSET ${options?.offset ?? 0}`.pipe(
      Effect.flatMap(decodeTransactions),
      operation("AccountsAndTransactions.listTransactions")
    )

  return AccountsAndTransactions.of({
    upsertAccounts,
    upsertTransactions,
    watermark,
    advanceWatermark,
    counts,
    totals,
    listAccounts,
    listTransactions
  })
})

/**
 * The repository, over the `SqlClient` in context (migrated by a `Database` layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AccountsAndTransactions, never, SqlClient> = Layer.effect(AccountsAndTransactions, make)
