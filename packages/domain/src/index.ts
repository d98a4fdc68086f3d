/**
 * MX aggregation and MFA rules as typed Effects and Schemas.
 *
 * @since 0.1.0
 */

/** Connection statuses, their ids and their classes. @since 0.1.0 */
export * as ConnectionStatus from "./ConnectionStatus.js"

/** MX's member, status, challenge and credential objects. @since 0.1.0 */
export * as Member from "./Member.js"
