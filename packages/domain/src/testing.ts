/**
 * Property-testing support for users of the domain rules: fast-check arbitraries for every domain
 * type and a reference model of MX's aggregation state machine.
 *
 * @since 0.1.0
 */

/** fast-check arbitraries for the domain types. @since 0.1.0 */
export * as Arbitraries from "./testing/Arbitraries.js"

/** A reference model of MX's aggregation state machine and an agent that follows NextAction. @since 0.1.0 */
export * as Model from "./testing/Model.js"
