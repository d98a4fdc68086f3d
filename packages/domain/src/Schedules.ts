/**
 * The named Schedules of the project: how to poll a member's status and how to retry a failed MX call.
 * Pure values, tested with TestClock.
 *
 * @since 0.1.0
 */
import { Duration, Schedule } from "effect"
import { minimumPollInterval } from "./AggregationPolicy.js"

/**
 * Options of the status-polling schedule.
 *
 * @since 0.1.0
 * @category models
 */
export interface PollingOptions {
  /** The first delay (default 3 s; never less than 3 s). */
  readonly initial?: Duration.DurationInput | undefined
  /** Growth factor per poll (default 1.5). */
  readonly factor?: number | undefined
  /** The longest delay between two polls (default 30 s). */
  readonly cap?: Duration.DurationInput | undefined
  /** Stop polling after this much time (default 10 min); the caller then records a timeout. */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * Status polling: starts at 3 s, backs off by `factor` up to `cap`, and stops at `deadline`. No delay
 * is ever shorter than MX's recommended 3 seconds, whatever the options say.
 *
 * @since 0.1.0
 * @category schedules
 */
export const statusPolling = (options: PollingOptions = {}): Schedule.Schedule<Duration.Duration> => {
  const cap = Duration.decode(options.cap ?? "30 seconds")
  return Schedule.exponential(options.initial ?? minimumPollInterval, options.factor ?? 1.5).pipe(
    // The cap first, then the floor: even a cap below 3 s never makes a poll come sooner.
    // Whole milliseconds, so that clock arithmetic stays exact.
    Schedule.modifyDelay((_, delay) =>
      Duration.millis(Math.ceil(Duration.toMillis(Duration.max(Duration.min(delay, cap), minimumPollInterval))))
    ),
    Schedule.upTo(options.deadline ?? "10 minutes")
  )
}

/**
 * Options of the retry schedule for transient MX failures.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** The first delay (default 500 ms). */
  readonly base?: Duration.DurationInput | undefined
  /** The longest delay (default 30 s), jitter included. */
  readonly cap?: Duration.DurationInput | undefined
  /** The most retries (default 6). */
  readonly times?: number | undefined
  /**
   * Whether each delay is jittered (default `true`). `false` for a simulator whose retries tests
   * time exactly.
   */
  readonly jittered?: boolean | undefined
}

/**
 * Retries of a transient failure of a call between MX and its partners (429, 5xx, transport): the
 * MX client's calls, the worker's deliveries to the partner and the sandbox's webhook deliveries.
 * Exponential from `base`, doubled each time, jittered (x0.8 to x1.2, so many clients do not retry
 * in step), capped at `cap`, in whole milliseconds, and bounded to `times` retries.
 *
 * @since 0.1.0
 * @category schedules
 */
export const mxRetry = (options: RetryOptions = {}): Schedule.Schedule<[Duration.Duration, number]> => {
  const cap = Duration.decode(options.cap ?? "30 seconds")
  const exponential = Schedule.exponential(options.base ?? "500 millis", 2)
  return (options.jittered === false ? exponential : Schedule.jittered(exponential)).pipe(
    Schedule.modifyDelay((_, delay) => Duration.millis(Math.ceil(Duration.toMillis(Duration.min(delay, cap))))),
    Schedule.intersect(Schedule.recurs(options.times ?? 6))
  )
}
