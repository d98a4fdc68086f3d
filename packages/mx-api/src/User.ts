/**
 * MX's user object. A user owns members; the client creates, reads and lists users.
 *
 * @since 0.1.0
 */
import { Member } from "@mx-aggregation/domain"
import { Schema } from "effect"

/**
 * A user, as returned by create, read and list users.
 *
 * @since 0.1.0
 * @category schemas
 */
export class User extends Schema.Class<User>("User")({
  guid: Member.UserGuid,
  id: Schema.optional(Schema.NullOr(Schema.String)),
  email: Schema.optional(Schema.NullOr(Schema.String)),
  is_disabled: Schema.optionalWith(Schema.Boolean, { nullable: true, default: () => false }),
  metadata: Schema.optional(Schema.NullOr(Schema.String))
}) {}
