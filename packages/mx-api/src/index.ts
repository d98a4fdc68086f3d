/**
 * A typed Effect client for the MX Platform API.
 *
 * @since 0.1.0
 */

/** MX's account object. @since 0.1.0 */
export * as Account from "./Account.js"

/** The one error of the client, with a `reason`. @since 0.1.0 */
export * as MxApiError from "./MxApiError.js"

/** The `MxClient` service, its layers and its retry Schedule. @since 0.1.0 */
export * as MxClient from "./MxClient.js"

/** MX's pagination envelope. @since 0.1.0 */
export * as Pagination from "./Pagination.js"

/** MX's transaction object. @since 0.1.0 */
export * as Transaction from "./Transaction.js"

/** MX's user object. @since 0.1.0 */
export * as User from "./User.js"
