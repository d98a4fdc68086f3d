/**
 * All the store's services in one layer.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { ConfigError } from "effect"
import { Layer } from "effect"
import * as AccountsAndTransactions from "./AccountsAndTransactions.js"
import * as AggregationRuns from "./AggregationRuns.js"
import * as Database from "./Database.js"
import * as Erasure from "./Erasure.js"
import * as Outbox from "./Outbox.js"
import * as PendingChallenges from "./PendingChallenges.js"
import * as TrackedMembers from "./TrackedMembers.js"
import * as WebhookHints from "./WebhookHints.js"

/**
 * Every service the store provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | TrackedMembers.TrackedMembers
  | AggregationRuns.AggregationRuns
  | PendingChallenges.PendingChallenges
  | AccountsAndTransactions.AccountsAndTransactions
  | Outbox.Outbox
  | WebhookHints.WebhookHints
  | Erasure.Erasure

/**
 * The services over the `SqlClient` in context (which a `Database` layer has migrated).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Services, never, SqlClient> = Layer.mergeAll(
  TrackedMembers.layer,
  AggregationRuns.layer,
  PendingChallenges.layer,
  AccountsAndTransactions.layer,
  Outbox.layer,
  WebhookHints.layer,
  Erasure.layer
)

/**
 * The services and the `SqlClient` on the database chosen by the environment (`DATABASE_URL`,
 * `SQLITE_FILE`), migrated.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Services | SqlClient, Database.DatabaseError | ConfigError.ConfigError> = layer
  .pipe(Layer.provideMerge(Database.layerConfig))
