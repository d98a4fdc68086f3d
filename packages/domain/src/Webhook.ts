/**
 * MX's webhook payloads: CONNECTION_STATUS, sent when a member enters a status the end user can act
 * on (docs.mx.com/resources/webhooks/connection-status), and the aggregation webhook
 * (`member_data_updated`, docs.mx.com/resources/webhooks/aggregation). The sandbox sends these
 * shapes; a receiver reads any of them as `Received`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { MemberGuid } from "./Member.js"
import { nullable } from "./MxField.js"

/**
 * The CONNECTION_STATUS payload.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConnectionStatusPayload = Schema.Struct({
  action: Schema.Literal("CHANGED"),
  connection_status: Schema.String,
  connection_status_id: Schema.Number,
  connection_status_message: Schema.String,
  member_guid: Schema.String,
  type: Schema.Literal("CONNECTION_STATUS"),
  user_guid: Schema.String
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ConnectionStatusPayload = typeof ConnectionStatusPayload.Type

/**
 * The aggregation (`member_data_updated`) payload.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MemberDataUpdatedPayload = Schema.Struct({
  action: Schema.Literal("member_data_updated"),
  /** Unix seconds. */
  completed_at: Schema.Number,
  /** `YYYY-MM-DD`. */
  completed_on: Schema.String,
  is_background: Schema.Boolean,
  job_guid: Schema.String,
  member_guid: Schema.String,
  transactions_created_count: Schema.Number,
  transactions_updated_count: Schema.Number,
  type: Schema.Literal("AGGREGATION"),
  user_guid: Schema.String,
  user_id: Schema.NullOr(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type MemberDataUpdatedPayload = typeof MemberDataUpdatedPayload.Type

/**
 * A webhook payload.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Payload = Schema.Union(ConnectionStatusPayload, MemberDataUpdatedPayload)

/**
 * @since 0.1.0
 * @category schemas
 */
export type Payload = typeof Payload.Type

/**
 * Any MX webhook as a receiver reads it: the member it names and what kind it is (CONNECTION_STATUS
 * carries `type`, the aggregation webhook `action: member_data_updated`). Other fields, nulls and new
 * fields are ignored: MX resends a payload answered with an error, so an unexpected one is received,
 * not refused.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Received = Schema.Struct({
  type: nullable(Schema.String),
  action: nullable(Schema.String),
  member_guid: MemberGuid
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Received = typeof Received.Type
