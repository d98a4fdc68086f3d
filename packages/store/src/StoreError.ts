/**
 * The one error of the store's services: a query that failed, or a row that did not decode.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A store operation failed. `reason` says whether the database refused or failed the query
 * (`QueryFailed`) or returned a row the store's Schema rejects (`InvalidRow`: a schema mismatch,
 * never expected). `operation` names the service method, e.g. `TrackedMembers.claim`.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  reason: Schema.Literal("QueryFailed", "InvalidRow"),
  operation: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}
