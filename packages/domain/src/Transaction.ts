/**
 * MX's transaction object, reduced to the fields an aggregation consumer reads. Unknown fields are
 * ignored when decoding, and every field but `guid` may be null or absent.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { nullable } from "./MxField.js"

/**
 * A transaction guid (`TRN-…`).
 *
 * @since 0.1.0
 * @category ids
 */
export const TransactionGuid = Schema.NonEmptyTrimmedString.pipe(Schema.brand("TransactionGuid"))

/**
 * @since 0.1.0
 * @category ids
 */
export type TransactionGuid = typeof TransactionGuid.Type

/**
 * A transaction, as returned by list transactions by member.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Transaction extends Schema.Class<Transaction>("Transaction")({
  guid: TransactionGuid,
  id: nullable(Schema.String),
  account_guid: nullable(Schema.String),
  account_id: nullable(Schema.String),
  member_guid: nullable(Schema.String),
  user_guid: nullable(Schema.String),
  amount: nullable(Schema.Number),
  currency_code: nullable(Schema.String),
  date: nullable(Schema.String),
  transacted_at: nullable(Schema.String),
  posted_at: nullable(Schema.String),
  status: nullable(Schema.String),
  type: nullable(Schema.String),
  category: nullable(Schema.String),
  category_guid: nullable(Schema.String),
  top_level_category: nullable(Schema.String),
  description: nullable(Schema.String),
  original_description: nullable(Schema.String),
  memo: nullable(Schema.String),
  merchant_guid: nullable(Schema.String),
  is_bill_pay: nullable(Schema.Boolean),
  is_direct_deposit: nullable(Schema.Boolean),
  is_expense: nullable(Schema.Boolean),
  is_fee: nullable(Schema.Boolean),
  is_income: nullable(Schema.Boolean),
  is_international: nullable(Schema.Boolean),
  is_overdraft_fee: nullable(Schema.Boolean),
  is_recurring: nullable(Schema.Boolean),
  is_subscription: nullable(Schema.Boolean),
  metadata: nullable(Schema.String),
  created_at: nullable(Schema.String),
  updated_at: nullable(Schema.String)
}) {}
