/**
 * A typed Effect client for the MX Platform API.
 *
 * @since 0.1.0
 */

/** MX's account and transaction objects: the domain's Schemas, which the client decodes. @since 0.1.0 */
export { Account, Transaction } from "@mx-aggregation/domain"

/** The metrics of MX calls, recorded by the client: requests, 429s, retries, latency. @since 0.1.0 */
export * as CallMetrics from "./CallMetrics.js"

/** The one error of the client, with a `reason`. @since 0.1.0 */
export * as MxApiError from "./MxApiError.js"

/** The `MxClient` service, its layers and its retry Schedule. @since 0.1.0 */
export * as MxClient from "./MxClient.js"

/** MX's pagination envelope. @since 0.1.0 */
export * as Pagination from "./Pagination.js"

/** MX's user object. @since 0.1.0 */
export * as User from "./User.js"
