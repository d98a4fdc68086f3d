/**
 * A simulator of the MX Platform API (v20111101) for tests, demos and benchmarks.
 *
 * @since 0.1.0
 */

/** The sandbox service, its in-memory and served layers. @since 0.1.0 */
export * as Sandbox from "./Sandbox.js"

/** Options: credentials, time scale, durations, background aggregation, webhooks, faults. @since 0.1.0 */
export * as Options from "./Options.js"

/** MX Bank's test credentials and what each password does. @since 0.1.0 */
export * as MxBank from "./MxBank.js"

/** The institutions the sandbox knows. @since 0.1.0 */
export * as Institutions from "./Institutions.js"

/** The counters the sandbox keeps. @since 0.1.0 */
export * as Stats from "./Stats.js"

/** The sandbox's error. @since 0.1.0 */
export * as SandboxError from "./SandboxError.js"

/** Webhook payloads and delivery. @since 0.1.0 */
export * as Webhooks from "./Webhooks.js"

/** The sandbox's MX time, also as a live Clock for processes that drive a time-scaled sandbox. @since 0.1.0 */
export * as MxClock from "./MxClock.js"
