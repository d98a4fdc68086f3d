/**
 * The worker's SQL persistence: tracked members, aggregation runs, pending MFA challenges, accounts
 * and transactions, and the partner outbox, on SQLite (default) or PostgreSQL.
 *
 * @since 0.1.0
 */

/** Choosing, opening and migrating the database; provides `SqlClient`. @since 0.1.0 */
export * as Database from "./Database.js"

/** The schema as migrations. @since 0.1.0 */
export * as Migrations from "./Migrations.js"

/** The error of every store operation. @since 0.1.0 */
export * as StoreError from "./StoreError.js"

/** Tracked members, their schedule and the one-run-per-member claim. @since 0.1.0 */
export * as TrackedMembers from "./TrackedMembers.js"

/** Aggregation runs and the statuses they observed. @since 0.1.0 */
export * as AggregationRuns from "./AggregationRuns.js"

/** MFA challenges waiting for answers (never the answers). @since 0.1.0 */
export * as PendingChallenges from "./PendingChallenges.js"

/** Accounts and transactions, upserted by guid, and the pull watermark. @since 0.1.0 */
export * as AccountsAndTransactions from "./AccountsAndTransactions.js"

/** Partner events. @since 0.1.0 */
export * as Outbox from "./Outbox.js"

/** The debounce of MX webhooks, across replicas. @since 0.1.0 */
export * as WebhookHints from "./WebhookHints.js"

/** Erasing everything stored about a member, for data-retention requests. @since 0.1.0 */
export * as Erasure from "./Erasure.js"

/** Several store operations in one SQL transaction. @since 0.1.0 */
export * as Transaction from "./Transaction.js"

/** All services in one layer. @since 0.1.0 */
export * as Store from "./Store.js"

/** Fresh SQLite and PostgreSQL databases for tests. @since 0.1.0 */
export * as TestDatabase from "./TestDatabase.js"
