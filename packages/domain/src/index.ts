/**
 * MX aggregation and MFA rules as typed Effects and Schemas.
 *
 * @since 0.1.0
 */

/** Connection statuses, their ids and their classes. @since 0.1.0 */
export * as ConnectionStatus from "./ConnectionStatus.js"

/** MX's member, status, challenge and credential objects. @since 0.1.0 */
export * as Member from "./Member.js"

/** The next action for a member, from what was observed of it. @since 0.1.0 */
export * as NextAction from "./NextAction.js"

/** Validating MFA answers, resuming only CHALLENGED members, multi-round MFA. @since 0.1.0 */
export * as Mfa from "./Mfa.js"

/** The policy for new credentials: update, never delete and recreate. @since 0.1.0 */
export * as CredentialUpdate from "./CredentialUpdate.js"

/** Which operations make MX aggregate by itself, and skip_aggregation. @since 0.1.0 */
export * as AutomaticAggregation from "./AutomaticAggregation.js"

/** When to call aggregate at all. @since 0.1.0 */
export * as AggregationPolicy from "./AggregationPolicy.js"

/** The named polling and retry Schedules. @since 0.1.0 */
export * as Schedules from "./Schedules.js"

/** What a run means: reasons and triggers, outcomes, partner events, the ending for a decision. @since 0.1.0 */
export * as RunOutcome from "./RunOutcome.js"
/** MX's account object. @since 0.1.0 */
export * as Account from "./Account.js"

/** MX's transaction object. @since 0.1.0 */
export * as Transaction from "./Transaction.js"

/** MX's webhook payloads. @since 0.1.0 */
export * as Webhook from "./Webhook.js"

/** Field helpers of MX's objects (`nullable`). @since 0.1.0 */
export * as MxField from "./MxField.js"
