/**
 * The sandbox's records as MX's JSON (v20111101): snake_case fields of the spec's response
 * schemas, nothing else.
 *
 * @internal
 */
import type { CredentialField, Institution } from "../Institutions.js"
import type { AccountRec, TxRec } from "./data.js"
import { isoTime, txDate, txId } from "./data.js"
import type { ChallengeRec, MemberCredential, MemberRec, UserRec } from "./model.js"
import { needsCredentials, statusMessage } from "./model.js"

const time = (ms: number | null): string | null => ms === null ? null : isoTime(ms)

/** `UserResponse`. */
export const user = (rec: UserRec) => ({
  email: rec.email,
  guid: rec.guid,
  id: rec.id,
  is_disabled: rec.isDisabled,
  metadata: rec.metadata
})

/** `MemberResponse`. `most_recent_job_guid` is the job's guid, a string, as MX sends it (the spec says boolean). */
export const member = (rec: MemberRec, userId: string | null) => ({
  aggregated_at: time(rec.aggregatedAt),
  background_aggregation_is_disabled: rec.backgroundDisabled,
  connection_status: rec.status,
  connection_status_message: statusMessage(rec.status, rec.institution.name),
  guid: rec.guid,
  id: rec.id,
  institution_code: rec.institution.code,
  institution_guid: rec.institution.guid,
  is_being_aggregated: rec.isBeingAggregated,
  is_managed_by_user: false,
  is_manual: false,
  is_oauth: rec.isOauth,
  metadata: rec.metadata,
  most_recent_job_detail_code: rec.detailCode,
  most_recent_job_detail_text: rec.detailText,
  most_recent_job_guid: rec.lastJobGuid,
  name: rec.institution.name,
  needs_updated_credentials: rec.status !== null && needsCredentials.has(rec.status),
  oauth_window_uri: rec.oauthWindowUri,
  successfully_aggregated_at: time(rec.successfullyAggregatedAt),
  use_cases: rec.useCases,
  user_guid: rec.userGuid,
  user_id: userId
})

/** `ChallengeResponse`. */
export const challenge = (rec: ChallengeRec) => ({
  field_name: rec.fieldName,
  guid: rec.guid,
  image_data: rec.imageData,
  image_options: [],
  label: rec.label,
  options: rec.options.map((option) => ({ guid: option.guid, label: option.label, value: option.value })),
  type: rec.type
})

/** `MemberStatusResponse`: challenges are listed only while CHALLENGED. */
export const status = (rec: MemberRec) => ({
  aggregated_at: time(rec.aggregatedAt),
  challenges: rec.status === "CHALLENGED" ? rec.challenges.map(challenge) : [],
  connection_status: rec.status,
  guid: rec.guid,
  has_processed_account_numbers: rec.hasProcessedAccountNumbers,
  has_processed_accounts: rec.hasProcessedAccounts,
  has_processed_transactions: rec.hasProcessedTransactions,
  is_authenticated: rec.isAuthenticated,
  is_being_aggregated: rec.isBeingAggregated,
  successfully_aggregated_at: time(rec.successfullyAggregatedAt)
})

/** `CredentialResponse` of an institution. */
export const institutionCredential = (field: CredentialField) => ({
  display_order: field.display_order,
  field_name: field.field_name,
  field_type: field.field_type,
  guid: field.guid,
  label: field.label,
  type: field.type
})

/** `CredentialResponse` of a member: the member's own guid. */
export const memberCredential = (credential: MemberCredential) => ({
  ...institutionCredential(credential.field),
  guid: credential.guid
})

/** `InstitutionResponse`. */
export const institution = (rec: Institution) => ({
  code: rec.code,
  forgot_password_url: `${rec.url}/forgot-password`,
  forgot_username_url: `${rec.url}/forgot-username`,
  instructional_text: null,
  instructional_text_steps: null,
  is_disabled_by_client: false,
  iso_country_code: "US",
  medium_logo_url: null,
  name: rec.name,
  small_logo_url: null,
  supports_account_identification: true,
  supports_account_statement: true,
  supports_account_verification: true,
  supports_oauth: rec.oauth,
  supports_tax_document: false,
  supports_transaction_history: true,
  trouble_signing_in_url: `${rec.url}/login-trouble`,
  url: rec.url
})

/** `AccountResponse`: the fields MX Bank fills; the spec's other fields are optional. */
export const account = (rec: AccountRec, owner: MemberRec, userId: string | null) => ({
  account_number: rec.accountNumber,
  apr: rec.type === "CREDIT_CARD" ? 19.99 : null,
  apy: rec.type === "SAVINGS" ? 4.1 : null,
  available_balance: rec.type === "CREDIT_CARD" && rec.creditLimit !== null
    ? Math.round((rec.creditLimit - rec.balance) * 100) / 100
    : rec.balance,
  available_credit: rec.type === "CREDIT_CARD" && rec.creditLimit !== null
    ? Math.round((rec.creditLimit - rec.balance) * 100) / 100
    : null,
  balance: rec.balance,
  created_at: isoTime(rec.createdAt),
  credit_limit: rec.creditLimit,
  currency_code: "USD",
  guid: rec.guid,
  id: rec.id,
  institution_code: owner.institution.code,
  institution_guid: owner.institution.guid,
  is_closed: false,
  is_hidden: false,
  is_manual: false,
  member_guid: owner.guid,
  member_id: owner.id,
  member_is_managed_by_user: false,
  metadata: null,
  name: rec.name,
  nickname: null,
  subtype: "NONE",
  type: rec.type,
  updated_at: isoTime(rec.updatedAt),
  user_guid: owner.userGuid,
  user_id: userId
})

/** `TransactionResponse` (the `includes` enhancements are not simulated). */
export const transaction = (rec: TxRec, owner: MemberRec, userId: string | null) => ({
  account_guid: rec.accountGuid,
  account_id: rec.accountId,
  amount: rec.amount,
  category: rec.category,
  category_guid: rec.categoryGuid,
  check_number_string: null,
  created_at: isoTime(rec.createdAt),
  currency_code: "USD",
  date: txDate(rec),
  description: rec.description,
  extended_transaction_type: null,
  guid: rec.guid,
  id: txId(rec),
  is_bill_pay: false,
  is_direct_deposit: rec.category === "Paycheck",
  is_expense: rec.type === "DEBIT",
  is_fee: false,
  is_income: rec.category === "Paycheck",
  is_international: false,
  is_manual: false,
  is_overdraft_fee: false,
  is_payroll_advance: false,
  is_recurring: null,
  is_subscription: false,
  latitude: null,
  localized_description: null,
  localized_memo: null,
  longitude: null,
  member_guid: owner.guid,
  member_is_managed_by_user: false,
  memo: null,
  merchant_category_code: null,
  merchant_guid: null,
  merchant_location_guid: null,
  metadata: null,
  original_description: rec.originalDescription,
  posted_at: time(rec.postedAt),
  status: rec.status,
  top_level_category: rec.topLevelCategory,
  transacted_at: isoTime(rec.transactedAt),
  type: rec.type,
  updated_at: isoTime(rec.updatedAt),
  user_guid: owner.userGuid,
  user_id: userId
})

/** `PaginationResponse` and the page's items. */
export const page = <A>(items: ReadonlyArray<A>, current: number, perPage: number) => ({
  items: items.slice((current - 1) * perPage, current * perPage),
  pagination: {
    current_page: current,
    per_page: perPage,
    total_entries: items.length,
    total_pages: Math.ceil(items.length / perPage)
  }
})
