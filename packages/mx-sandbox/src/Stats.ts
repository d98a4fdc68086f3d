/**
 * What the sandbox counts, for tests and benchmarks that measure the API cost of a client and check
 * that it keeps MX's rules: calls per endpoint and per member, deletes, 429s sent, peak
 * concurrency, aggregations started, aggregates that duplicated an automatic aggregation, resumes
 * outside CHALLENGED, and the shortest interval between two polls of one member.
 *
 * @since 0.1.0
 */

/**
 * A snapshot of the counters since the sandbox started or `resetStats` was last called.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Every HTTP request to the MX API (the sandbox's own `/sandbox/*` routes excluded). */
  readonly requests: number
  /** Requests per spec operationId (`readMemberStatus`, `aggregateMember`, …; `unknown` for no route). */
  readonly byOperation: Readonly<Record<string, number>>
  /** Requests per member guid (any route with `{member_guid}`). */
  readonly byMember: Readonly<Record<string, number>>
  /** Responses per HTTP status. */
  readonly byStatus: Readonly<Record<string, number>>
  /** Members deleted through `DELETE …/members/{guid}`, and users deleted. */
  readonly deletes: { readonly members: number; readonly users: number }
  /** Responses 429 sent (rate limit or concurrency cap). */
  readonly rateLimited: number
  /** 5xx responses injected by the `serverErrors` fault. */
  readonly injectedErrors: number
  /** Responses cut short by the `malformedBodies` fault. */
  readonly malformedBodies: number
  /** Most requests in flight at once. */
  readonly peakConcurrency: number
  /** Most requests in flight at once for one member, per member guid. */
  readonly peakConcurrencyByMember: Readonly<Record<string, number>>
  /** Standard aggregations started, all origins together. */
  readonly aggregationsStarted: number
  /** Aggregations started per origin: create, credentials, aggregate, background, oauth. */
  readonly aggregationsByOrigin: Readonly<Record<string, number>>
  /** Other jobs started (identify, verify, check_balance, extend_history, fetch_statements). */
  readonly otherJobsStarted: number
  /** `aggregate` calls answered 202 without a new job because one was already running. */
  readonly aggregatesWhileRunning: number
  /**
   * `aggregate` calls made while the aggregation that a member creation or credential update had
   * started was still running: the call was useless (MX had already started one).
   */
  readonly aggregatesAfterAutomatic: number
  /** `aggregate` calls answered 202 without a job because of the throttle window. */
  readonly aggregatesThrottled: number
  /** `aggregate` and job calls answered 409 (another job type running). */
  readonly jobConflicts: number
  /** `resume` calls on a member that was not CHALLENGED (answered 405). */
  readonly resumesOutsideChallenged: number
  /** Shortest MX-time interval in milliseconds between two reads (status or member) of one member. */
  readonly minPollIntervalMs: number | null
  /** Webhook deliveries. */
  readonly webhooks: { readonly delivered: number; readonly failedAttempts: number; readonly dropped: number }
}
