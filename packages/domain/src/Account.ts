/**
 * MX's account object, reduced to the fields an aggregation consumer reads. MX sends about 110
 * fields; unknown ones are ignored when decoding, and every field but `guid` may be null or absent.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { nullable } from "./MxField.js"

/**
 * An account guid (`ACT-…`).
 *
 * @since 0.1.0
 * @category ids
 */
export const AccountGuid = Schema.NonEmptyTrimmedString.pipe(Schema.brand("AccountGuid"))

/**
 * @since 0.1.0
 * @category ids
 */
export type AccountGuid = typeof AccountGuid.Type

/**
 * An account of a member, as returned by list member accounts.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Account extends Schema.Class<Account>("Account")({
  guid: AccountGuid,
  id: nullable(Schema.String),
  member_guid: nullable(Schema.String),
  user_guid: nullable(Schema.String),
  institution_code: nullable(Schema.String),
  name: nullable(Schema.String),
  nickname: nullable(Schema.String),
  type: nullable(Schema.String),
  subtype: nullable(Schema.String),
  balance: nullable(Schema.Number),
  available_balance: nullable(Schema.Number),
  available_credit: nullable(Schema.Number),
  credit_limit: nullable(Schema.Number),
  currency_code: nullable(Schema.String),
  account_number: nullable(Schema.String),
  is_closed: nullable(Schema.Boolean),
  is_hidden: nullable(Schema.Boolean),
  is_manual: nullable(Schema.Boolean),
  metadata: nullable(Schema.String),
  imported_at: nullable(Schema.String),
  created_at: nullable(Schema.String),
  updated_at: nullable(Schema.String)
}) {}
