/**
 * Which API operations make MX start an aggregation by itself, and how `skip_aggregation` prevents it.
 * From MX's guide: a new session aggregates all of the user's members; a new member is aggregated; a
 * credential update aggregates the member; an update without credentials does not.
 *
 * The Platform API has no session endpoint (sessions are the Nexus API's); the worker's "user is
 * present" signal plays that role and aggregates the user's members that need it.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A new session for the user (the guide's "When a new session is created, all members on the user
 * will automatically be aggregated").
 *
 * @since 0.1.0
 * @category operations
 */
export class NewSession extends Schema.TaggedClass<NewSession>()("NewSession", {
  skipAggregation: Schema.Boolean
}) {}

/**
 * A member created with credentials.
 *
 * @since 0.1.0
 * @category operations
 */
export class CreateMember extends Schema.TaggedClass<CreateMember>()("CreateMember", {
  skipAggregation: Schema.Boolean
}) {}

/**
 * An update of an existing member, with or without new credentials.
 *
 * @since 0.1.0
 * @category operations
 */
export class UpdateMember extends Schema.TaggedClass<UpdateMember>()("UpdateMember", {
  withCredentials: Schema.Boolean,
  skipAggregation: Schema.Boolean
}) {}

/**
 * An operation that may start an aggregation on MX's side.
 *
 * @since 0.1.0
 * @category operations
 */
export const Operation = Schema.Union(NewSession, CreateMember, UpdateMember)

/**
 * @since 0.1.0
 * @category operations
 */
export type Operation = typeof Operation.Type

/**
 * Which members MX aggregates by itself after an operation.
 *
 * @since 0.1.0
 * @category models
 */
export type Scope = "AllMembersOfUser" | "ThisMember" | "None"

/**
 * The members MX aggregates by itself after an operation. `skip_aggregation` always prevents it.
 *
 * @since 0.1.0
 * @category rules
 */
export const scope = (operation: Operation): Scope => {
  if (operation.skipAggregation) return "None"
  switch (operation._tag) {
    case "NewSession":
      return "AllMembersOfUser"
    case "CreateMember":
      return "ThisMember"
    case "UpdateMember":
      return operation.withCredentials ? "ThisMember" : "None"
  }
}

/**
 * Whether MX starts an aggregation of the member the operation is about. When it does, the caller must
 * poll that aggregation and not call aggregate again.
 *
 * @since 0.1.0
 * @category rules
 */
export const startsAggregation = (operation: Operation): boolean => scope(operation) !== "None"
