/**
 * What one phase of the benchmark (the worker, or the naive baseline) measured, and the helpers both
 * phases share: a warning-counting logger, an RSS sampler and the MX clock aligned with the sandbox.
 *
 * @since 0.1.0
 */
import { MxClock, type Stats } from "@mx-aggregation/mx-sandbox"
import { type Clock, Effect, HashMap, type Layer, Logger, LogLevel, Option, Schedule } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type * as SandboxProcess from "./SandboxProcess.js"

/**
 * The measurements of one phase.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly name: string
  readonly members: number
  /** Members driven to the end: CONNECTED, data pulled, no run active. */
  readonly completed: number
  /** How the members ended (worker: run outcomes; naive: the loop's end). */
  readonly outcomes: Readonly<Record<string, number>>
  readonly makespanRealMs: number
  readonly makespanMxMs: number
  /** The sandbox's counters for the phase (no setup call is counted). */
  readonly stats: Stats.Stats
  /** CPU time of this process during the phase (the worker or the naive loops, plus the driver). */
  readonly cpuMs: number
  /** CPU time of the sandbox child during the phase. */
  readonly sandboxCpuMs: number | null
  /** Highest RSS sampled during the phase. */
  readonly peakRssBytes: number
  /** Event-loop delay of this process during the phase: p99 and max, milliseconds. */
  readonly eventLoopDelay: { readonly p99Ms: number; readonly maxMs: number }
  /** MFA rounds answered. */
  readonly mfaAnswered: number
  readonly timedOut: boolean
  /** What was left unfinished, when the phase timed out. */
  readonly stuck: ReadonlyArray<string>
  /** Warnings and errors logged during the phase, by message. */
  readonly warnings: ReadonlyArray<readonly [string, number]>
  /** The machine's 1-minute load average at the end of the phase (other processes count too). */
  readonly loadAverage: number
  /** Extra lines of facts worth printing (data pulled, outbox events...). */
  readonly notes: ReadonlyArray<string>
}

/**
 * A clock of MX time aligned with the sandbox child's (its `now` at `realMs` was `mxMs`).
 *
 * @since 0.1.0
 * @category time
 */
export const mxClockOf = (ready: SandboxProcess.Ready, timeScale: number): Clock.Clock =>
  MxClock.make(timeScale, ready.mxMs + (Date.now() - ready.realMs) * timeScale)

/**
 * The real epoch ms at which the sandbox child's MX time equalled real time (its MX time is
 * `origin + (real - origin) × timeScale`), for a worker process's `WORKER_TIME_ORIGIN`; `undefined`
 * at time scale 1, where both clocks are real time.
 *
 * @since 0.1.0
 * @category time
 */
export const timeOriginOf = (ready: SandboxProcess.Ready, timeScale: number): number | undefined =>
  timeScale === 1 ? undefined : Math.round((ready.realMs * timeScale - ready.mxMs) / (timeScale - 1))

/**
 * Counts warning-and-worse log lines by message (and the MX operation and reason annotations, where
 * present) instead of printing them: at 1,000 members the retries would flood the terminal.
 *
 * @since 0.1.0
 * @category logging
 */
export const countingLogger = (): Logs => {
  const counts = new Map<string, number>()
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    if (!LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) return
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const extra = ["operation", "reason", "status"].flatMap((key) => {
      const value = HashMap.get(annotations, key)
      return Option.isNone(value) ? [] : [`${key}=${String(value.value)}`]
    })
    const key = `${logLevel.label} ${text.split("\n")[0]!.slice(0, 160)}${extra.length ? ` (${extra.join(", ")})` : ""}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  })
  return {
    layer: Logger.replace(Logger.defaultLogger, logger),
    take: (): ReadonlyArray<readonly [string, number]> => {
      const entries = [...counts.entries()].sort((a, b) => b[1] - a[1])
      counts.clear()
      return entries
    }
  }
}

/**
 * The counting logger: a layer to provide to the whole program, and the counts since the last `take`.
 *
 * @since 0.1.0
 * @category logging
 */
export interface Logs {
  readonly layer: Layer.Layer<never>
  readonly take: () => ReadonlyArray<readonly [string, number]>
}

/**
 * Measures this process's event-loop delay until the scope closes.
 *
 * @since 0.1.0
 * @category measurement
 */
export const eventLoopMonitor = Effect.acquireRelease(
  Effect.sync(() => {
    const histogram = monitorEventLoopDelay({ resolution: 10 })
    histogram.enable()
    return histogram
  }),
  (histogram) => Effect.sync(() => histogram.disable())
).pipe(Effect.map((histogram) => ({
  read: () => ({ p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6 })
})))

/**
 * Samples this process's RSS every 100 ms until interrupted; `peak` reads the highest so far.
 *
 * @since 0.1.0
 * @category measurement
 */
export const rssSampler = Effect.gen(function*() {
  let peak = process.memoryUsage.rss()
  const fiber = yield* Effect.sync(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }).pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
  return { peak: () => Math.max(peak, process.memoryUsage.rss()), fiber }
})

/**
 * CPU milliseconds (user + system) of this process since `start`.
 *
 * @since 0.1.0
 * @category measurement
 */
export const cpuMsSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}
