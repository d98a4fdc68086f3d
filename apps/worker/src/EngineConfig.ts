/**
 * The engine's tunables, and the time scale that lets tests, demos and benchmarks run minutes of MX
 * time in seconds against the sandbox (every worker duration is divided by it).
 *
 * @since 0.1.0
 */
import { AggregationPolicy, type Schedules } from "@mx-aggregation/domain"
import { type Clock, Context, Duration, Layer } from "effect"
import * as MxTime from "./MxTime.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** MX seconds per real second (1 against real MX). */
  readonly timeScale: number
  /** The clock of MX time when `timeScale` is not 1 (see `MxTime`). */
  readonly mxClock?: Clock.Clock | undefined
  /** How long a challenge waits for answers before the run records that the user must be present. */
  readonly mfaTimeout: Duration.Duration
  /**
   * While a run waits for MFA answers, how often it checks that the member is still CHALLENGED (answers
   * given elsewhere, a resume whose signal was lost in a crash, or MX's own timeout move it on).
   */
  readonly challengeWatchInterval: Duration.Duration
  /** A run claimed for longer than this without ending is stopped and its member freed (MX time). */
  readonly staleRunAfter: Duration.Duration
  /** Status polling. */
  readonly polling: Schedules.PollingOptions
  /** When to aggregate and when to check again. */
  readonly policy: AggregationPolicy.Options
  /** Aggregations in flight at once, across the process. */
  readonly maxConcurrentRuns: number
  /** How often the scheduler looks for due members. */
  readonly schedulerInterval: Duration.Duration
  /** Accounts and transaction pages handled at once while pulling. */
  readonly pullConcurrency: number
  /** MX webhooks about a member within this window (MX time) after one that was acted on cost nothing. */
  readonly webhookDebounce: Duration.Duration
}

/**
 * The default `webhookDebounce`: MX may send several webhooks for one change (a CONNECTION_STATUS and a
 * member_data_updated), retries a delivery it thinks failed, and whoever holds the webhook credentials
 * could send many; a change the window hides is seen by the run's next poll or the member's next check.
 *
 * @since 0.1.0
 * @category constants
 */
export const webhookDebounce: Duration.Duration = Duration.seconds(30)

/**
 * The engine's configuration.
 *
 * @since 0.1.0
 * @category tags
 */
export class EngineConfig extends Context.Tag("@mx-aggregation/worker/EngineConfig")<EngineConfig, Service>() {}

/**
 * Defaults suited to real MX.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Service = {
  timeScale: 1,
  // Shorter than MX's own MFA timeout, so that answers are never sent to an aggregation that already
  // turned EXPIRED at MX (which would be a resume outside CHALLENGED).
  mfaTimeout: Duration.minutes(4),
  challengeWatchInterval: Duration.seconds(30),
  // Far beyond any healthy run: a few MFA rounds (4 min each) and polling deadlines (15 min each).
  staleRunAfter: Duration.hours(2),
  polling: { initial: "3 seconds", factor: 1.5, cap: "30 seconds", deadline: "15 minutes" },
  policy: AggregationPolicy.defaultOptions,
  maxConcurrentRuns: 50,
  schedulerInterval: Duration.seconds(5),
  pullConcurrency: 4,
  webhookDebounce
}

/**
 * Status polling when MX webhooks reach the worker: webhooks wake a run as soon as its member's
 * status changes, so the schedule can be slow (it is only the fallback MX recommends keeping).
 *
 * @since 0.1.0
 * @category constants
 */
export const webhookPolling: Schedules.PollingOptions = {
  initial: "15 seconds",
  factor: 2,
  cap: "2 minutes",
  deadline: "30 minutes"
}

/**
 * A layer with the given options over the defaults.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Partial<Service> & {
    /** MX time now (epoch ms), e.g. the sandbox's `now`, to align the worker's MX clock with it. */
    readonly mxAnchor?: number | undefined
    /** Or: the real epoch ms at which MX time equalled real time (the sandbox's start). */
    readonly mxOrigin?: number | undefined
  } = {}
): Layer.Layer<EngineConfig> =>
  Layer.sync(EngineConfig, () => {
    const { mxAnchor, mxOrigin, ...rest } = options
    const config = { ...defaults, ...rest }
    if (config.timeScale === 1 || config.mxClock !== undefined) return config
    const mxClock = mxOrigin !== undefined
      ? MxTime.fromOrigin(config.timeScale, mxOrigin)
      : MxTime.make(config.timeScale, mxAnchor)
    return { ...config, mxClock }
  })

/**
 * An MX-time duration as the real time to wait.
 *
 * @since 0.1.0
 * @category time
 */
export const toReal = (config: Service, duration: Duration.DurationInput): Duration.Duration =>
  Duration.millis(Math.max(1, Math.round(Duration.toMillis(duration) / config.timeScale)))
