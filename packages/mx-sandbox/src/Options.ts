/**
 * How a sandbox run is configured: credentials, the time scale, how long MX takes, background
 * aggregation, webhooks and faults. Every field has a default, so `Sandbox.layer()` works as is.
 *
 * Model durations (aggregation, MFA timeout, background interval, throttle, webhook retry delay)
 * are MX time: with `timeScale: 100` a 30 second aggregation takes 0.3 s of the Clock. Fault
 * settings (latency, rate limit, concurrency cap) describe the HTTP connection the client sees and
 * are Clock time, not scaled: a rate of 10 requests per second means 10 per second of the client's
 * clock, whatever the time scale.
 *
 * @since 0.1.0
 */
import { Duration, Redacted } from "effect"

/**
 * A fault latency: a fixed delay, or a uniformly random one between `min` and `max` (Clock time).
 *
 * @since 0.1.0
 * @category models
 */
export type Latency = Duration.DurationInput | {
  readonly min: Duration.DurationInput
  readonly max: Duration.DurationInput
}

/**
 * Faults injected into the HTTP API, switchable at runtime with `Sandbox.setFaults`.
 *
 * - `latency`: added before every MX API response.
 * - `serverErrors`: the share (0-1) of requests answered with a 5xx, overall (`rate`) or per
 *   operationId (`byOperation`, e.g. `{ readMemberStatus: 0.2 }`), with `status` (default 503).
 * - `rateLimit`: a token bucket of `requestsPerSecond` (burst `burst`, default the rate); requests
 *   above it get 429.
 * - `maxConcurrency`: requests arriving while this many are in flight get 429.
 * - `malformedBodies`: the share (0-1) of successful responses whose JSON body is cut in half (not
 *   parseable), overall (`rate`) or per operationId (`byOperation`): a misbehaving proxy or MX bug.
 * - `variations`: MX's real variation, within its spec: `connectionStatus` reports these members
 *   (by guid) with that `connection_status` text in every answer that shows them (e.g. a status MX
 *   added later), while the sandbox goes on with the member's own state behind it; `undecodableRows`
 *   adds that many rows with a `null` guid to the first page of these list operations (by operationId,
 *   e.g. `{ listTransactionsByMember: 1 }`), copies of the page's first row when it has one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly latency?: Latency | undefined
  readonly serverErrors?: {
    readonly rate?: number | undefined
    readonly byOperation?: Readonly<Record<string, number>> | undefined
    readonly status?: 500 | 502 | 503 | 504 | undefined
  } | undefined
  readonly rateLimit?: {
    readonly requestsPerSecond: number
    readonly burst?: number | undefined
  } | undefined
  readonly maxConcurrency?: number | undefined
  readonly malformedBodies?: {
    readonly rate?: number | undefined
    readonly byOperation?: Readonly<Record<string, number>> | undefined
  } | undefined
  readonly variations?: {
    readonly connectionStatus?: Readonly<Record<string, string>> | undefined
    readonly undecodableRows?: Readonly<Record<string, number>> | undefined
  } | undefined
}

/**
 * One HTTP exchange, as the sandbox answered it: for tests that check every response (for example
 * against MX's OpenAPI document) and for tracing.
 *
 * @since 0.1.0
 * @category models
 */
export interface Exchange {
  /** The spec's operationId (`readMemberStatus`), `sandbox.*` for the sandbox's own routes, `unknown` otherwise. */
  readonly operationId: string
  readonly method: string
  readonly url: string
  readonly status: number
  readonly contentType: string | undefined
  /** The body exactly as sent (empty for 204). */
  readonly body: string
}

/**
 * The options of a sandbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Basic-auth user name (MX's client id). Default `sandbox-client-id`. */
  readonly clientId?: string | undefined
  /** Basic-auth password (MX's API key). Default `sandbox-api-key`. */
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
  /** MX seconds per Clock second. Default 1. */
  readonly timeScale?: number | undefined
  /** Seeds every guid, account, transaction and random fault. Default 1. */
  readonly seed?: string | number | undefined
  /** MX time when the sandbox starts (a Date, epoch millis or ISO string). Default: the Clock's time. */
  readonly startAt?: Date | number | string | undefined
  /** How long a successful aggregation without MFA takes (MX time). Default 30 seconds. */
  readonly aggregationDuration?: Duration.DurationInput | undefined
  /** How long an unanswered challenge waits before the member becomes EXPIRED (MX time). Default 5 minutes. */
  readonly mfaTimeout?: Duration.DurationInput | undefined
  /** How long the `DELAYED` password stays DELAYED before CONNECTED (MX time). Default 30 minutes. */
  readonly delayedDuration?: Duration.DurationInput | undefined
  /**
   * MX does not start a new standard aggregation this soon after a successful one (MX time; 202
   * without a job). MX Bank (`mxbank`) has no limit, as at MX. Default 3 hours.
   */
  readonly aggregationThrottle?: Duration.DurationInput | undefined
  /** MX's daily background aggregation. */
  readonly background?: {
    /** Default true. */
    readonly enabled?: boolean | undefined
    /** Default 24 hours (MX time). */
    readonly interval?: Duration.DurationInput | undefined
    /** Each member's interval varies by up to this much, deterministically. Default 1 hour. */
    readonly jitter?: Duration.DurationInput | undefined
    /** No background aggregation this long after an aggregation the partner started. Default 20 hours. */
    readonly suppressAfterManual?: Duration.DurationInput | undefined
  } | undefined
  /** Generated data. */
  readonly data?: {
    /** Days of history revealed by a member's first aggregation. Default 30. */
    readonly historyDays?: number | undefined
    /** Average transactions per account per day. Default 0.6. */
    readonly transactionsPerDay?: number | undefined
  } | undefined
  /** Webhooks, delivered with the HttpClient of the environment. */
  readonly webhooks?: {
    /** Where to POST them; none are sent without it. */
    readonly url?: string | undefined
    /** Attempts after the first failure. Default 5. */
    readonly retries?: number | undefined
    /** First retry delay, doubling each time (MX time). Default 10 seconds. */
    readonly retryDelay?: Duration.DurationInput | undefined
  } | undefined
  /** Faults from the start; see `Faults`. */
  readonly faults?: Faults | undefined
  /** The sandbox's own URL, used in `oauth_window_uri`. `layerServer` sets it. */
  readonly publicUrl?: string | undefined
  /** Called with every exchange the HTTP API answers. */
  readonly observe?: ((exchange: Exchange) => void) | undefined
}

/**
 * Options with every default filled in and durations in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly clientId: string
  readonly apiKey: Redacted.Redacted<string>
  readonly timeScale: number
  readonly seed: string
  readonly startAt: number | undefined
  readonly aggregationMs: number
  readonly mfaTimeoutMs: number
  readonly delayedMs: number
  readonly throttleMs: number
  readonly background: {
    readonly enabled: boolean
    readonly intervalMs: number
    readonly jitterMs: number
    readonly suppressMs: number
  }
  readonly data: { readonly historyDays: number; readonly transactionsPerDay: number }
  readonly webhooks: { readonly url: string | undefined; readonly retries: number; readonly retryDelayMs: number }
  readonly faults: Faults
  readonly publicUrl: string
  readonly observe: ((exchange: Exchange) => void) | undefined
}

/**
 * The test credentials a sandbox accepts when none are configured.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultCredentials = { clientId: "sandbox-client-id", apiKey: "sandbox-api-key" } as const

const millis = (input: Duration.DurationInput | undefined, fallback: Duration.DurationInput): number =>
  Duration.toMillis(Duration.decode(input ?? fallback))

const toEpoch = (input: Date | number | string | undefined): number | undefined => {
  if (input === undefined) return undefined
  const ms = input instanceof Date ? input.getTime() : typeof input === "number" ? input : Date.parse(input)
  if (!Number.isFinite(ms)) throw new Error(`mx-sandbox: invalid startAt ${String(input)}`)
  return ms
}

/**
 * Fills in the defaults. Throws on a time scale that is not a positive number, which is a
 * programming error in the caller.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options: Options = {}): Resolved => {
  const timeScale = options.timeScale ?? 1
  if (!(timeScale > 0) || !Number.isFinite(timeScale)) throw new Error(`mx-sandbox: invalid timeScale ${timeScale}`)
  const apiKey = options.apiKey ?? defaultCredentials.apiKey
  return {
    clientId: options.clientId ?? defaultCredentials.clientId,
    apiKey: Redacted.isRedacted(apiKey) ? apiKey : Redacted.make(apiKey),
    timeScale,
    seed: String(options.seed ?? 1),
    startAt: toEpoch(options.startAt),
    aggregationMs: millis(options.aggregationDuration, "30 seconds"),
    mfaTimeoutMs: millis(options.mfaTimeout, "5 minutes"),
    delayedMs: millis(options.delayedDuration, "30 minutes"),
    throttleMs: millis(options.aggregationThrottle, "3 hours"),
    background: {
      enabled: options.background?.enabled ?? true,
      intervalMs: millis(options.background?.interval, "24 hours"),
      jitterMs: millis(options.background?.jitter, "1 hour"),
      suppressMs: millis(options.background?.suppressAfterManual, "20 hours")
    },
    data: {
      historyDays: options.data?.historyDays ?? 30,
      transactionsPerDay: options.data?.transactionsPerDay ?? 0.6
    },
    webhooks: {
      url: options.webhooks?.url,
      retries: options.webhooks?.retries ?? 5,
      retryDelayMs: millis(options.webhooks?.retryDelay, "10 seconds")
    },
    faults: options.faults ?? {},
    publicUrl: options.publicUrl ?? "http://127.0.0.1",
    observe: options.observe
  }
}
