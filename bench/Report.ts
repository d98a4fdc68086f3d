/**
 * The benchmark's printed tables: the headline figures of each phase side by side, MX calls per
 * aggregation by endpoint, and the worker/naive call ratio.
 *
 * @since 0.1.0
 */
import type { Stats } from "@mx-aggregation/mx-sandbox"
import { cpus } from "node:os"
import type { Flags } from "./Flags.js"
import type * as Phase from "./Phase.js"
import * as Population from "./Population.js"

/**
 * A whole number with thousands separators.
 *
 * @since 0.1.0
 * @category formatting
 */
export const int = (n: number): string => Math.round(n).toLocaleString("en-US")

/**
 * A number with `digits` decimals.
 *
 * @since 0.1.0
 * @category formatting
 */
export const fixed = (n: number, digits = 2): string => n.toFixed(digits)

/**
 * Bytes as whole megabytes.
 *
 * @since 0.1.0
 * @category formatting
 */
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`

/**
 * A duration as `1h 02m 03s` (or `12.3 s` under a minute).
 *
 * @since 0.1.0
 * @category formatting
 */
export const duration = (ms: number): string => {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const total = Math.round(ms / 1000)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  return h > 0
    ? `${h}h ${String(m).padStart(2, "0")}m ${String(s).padStart(2, "0")}s`
    : `${m}m ${String(s).padStart(2, "0")}s`
}

/**
 * A plain-text table: the first column left-aligned, the others right-aligned.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}

/**
 * The one-line description of a run's settings.
 *
 * @since 0.1.0
 * @category formatting
 */
export const settings = (flags: Flags): string => {
  const users = Population.users(flags)
  const mfa = users.reduce((n, u) => n + u.passwords.filter((p) => p === Population.mfaPassword).length, 0)
  return `${int(flags.members)} members over ${int(users.length)} users (${int(mfa)} with MFA), ` +
    `aggregation ${flags.aggregationSeconds} s MX, latency ${flags.latencyMs} ms, rate limit ${flags.rateLimit}/s, ` +
    `${flags.concurrency} in flight, max runs ${flags.maxRuns}, time scale ${flags.timeScale}, seed ${flags.seed}` +
    `${flags.webhooks ? ", webhooks to the worker" : ""} (latency and rate limit in real time)`
}

/**
 * The lower bound the rate limit allows: every call the phase made, sent at the rate limit.
 *
 * @since 0.1.0
 * @category figures
 */
export const rateBoundMs = (result: Phase.Result, flags: Flags): number =>
  (result.stats.requests / flags.rateLimit) * 1000

/**
 * The responses MX answered 429, 5xx and any other 4xx, as `a / b / c`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const statusCounts = (stats: Stats.Stats): string => {
  const sum = (f: (s: number) => boolean) =>
    Object.entries(stats.byStatus).filter(([s]) => f(Number(s))).reduce((n, [, k]) => n + k, 0)
  return `${sum((s) => s === 429)} / ${sum((s) => s >= 500)} / ${sum((s) => s >= 400 && s < 500 && s !== 429)}`
}

/**
 * The table of MX calls per aggregation by endpoint, one pair of columns per phase.
 *
 * @since 0.1.0
 * @category formatting
 */
export const endpoints = (
  results: ReadonlyArray<{ readonly name: string; readonly members: number; readonly stats: Stats.Stats }>
): string => {
  const perAggregation = (members: number, n: number) => fixed(n / members)
  const operations = [...new Set(results.flatMap((r) => Object.keys(r.stats.byOperation)))].sort()
  return [
    "MX calls per aggregation, by endpoint",
    table(
      ["operation", ...results.flatMap((r) => [`${r.name} total`, `${r.name} /agg`])],
      [
        ...operations.map((op) => [
          op,
          ...results.flatMap((r) => {
            const n = r.stats.byOperation[op] ?? 0
            return [int(n), perAggregation(r.members, n)]
          })
        ]),
        ["all", ...results.flatMap((r) => [int(r.stats.requests), perAggregation(r.members, r.stats.requests)])]
      ]
    )
  ].join("\n")
}

/**
 * How a phase ended: outcomes, notes, what was unfinished when it timed out, warnings by message.
 *
 * @since 0.1.0
 * @category formatting
 */
export const ending = (
  r: Pick<Phase.Result, "name" | "outcomes" | "notes" | "timedOut" | "stuck" | "warnings">,
  outcomesLabel: string,
  timeoutSeconds: number
): ReadonlyArray<string> => {
  const out: Array<string> = []
  const outcomes = Object.entries(r.outcomes).map(([k, v]) => `${k}=${v}`).join(", ")
  out.push(`${r.name}: ${outcomesLabel}: ${outcomes || "none"}`)
  for (const note of r.notes) out.push(`${r.name}: ${note}`)
  if (r.timedOut) out.push(`${r.name}: TIMED OUT after ${timeoutSeconds} s real; unfinished:`)
  for (const line of r.stuck) out.push(`  ${line}`)
  if (r.warnings.length > 0) {
    out.push(`${r.name}: warnings logged:`)
    for (const [message, count] of r.warnings.slice(0, 12)) out.push(`  ${String(count).padStart(6)}  ${message}`)
    if (r.warnings.length > 12) out.push(`  … and ${r.warnings.length - 12} other message(s)`)
  }
  return out
}

/**
 * The full report.
 *
 * @since 0.1.0
 * @category formatting
 */
export const render = (flags: Flags, results: ReadonlyArray<Phase.Result>): string => {
  const out: Array<string> = []
  const names = results.map((r) => r.name)
  const row = (label: string, f: (r: Phase.Result) => string) => [label, ...results.map(f)]
  const perAggregation = (r: Phase.Result, n: number) => fixed(n / r.members)
  out.push(table(["", ...names], [
    row("members completed (CONNECTED, data pulled)", (r) => `${int(r.completed)}/${int(r.members)}`),
    row("makespan, real time", (r) => duration(r.makespanRealMs)),
    row("makespan, MX time", (r) => duration(r.makespanMxMs)),
    row("MX calls", (r) => int(r.stats.requests)),
    row("MX calls per aggregation", (r) => perAggregation(r, r.stats.requests)),
    row("lower bound: calls / rate limit (real time)", (r) => duration(rateBoundMs(r, flags))),
    row("makespan / lower bound", (r) => fixed(r.makespanRealMs / rateBoundMs(r, flags))),
    row("aggregations started at MX", (r) => int(r.stats.aggregationsStarted)),
    row("MFA rounds answered", (r) => int(r.mfaAnswered)),
    row("429 / 5xx / other 4xx responses", (r) => statusCounts(r.stats)),
    row(
      "webhooks delivered / failed attempts",
      (r) => `${int(r.stats.webhooks.delivered)} / ${int(r.stats.webhooks.failedAttempts)}`
    ),
    row("resumes outside CHALLENGED", (r) => int(r.stats.resumesOutsideChallenged)),
    row(
      "shortest poll interval (MX s)",
      (r) => r.stats.minPollIntervalMs === null ? "-" : fixed(r.stats.minPollIntervalMs / 1000, 1)
    ),
    row("peak MX requests in flight", (r) => int(r.stats.peakConcurrency)),
    row("CPU ms per aggregation, this process", (r) => fixed(r.cpuMs / r.members)),
    row(
      "CPU ms per aggregation, sandbox child",
      (r) => r.sandboxCpuMs === null ? "-" : fixed(r.sandboxCpuMs / r.members)
    ),
    row("peak RSS, this process", (r) => mb(r.peakRssBytes)),
    row(`machine load average, 1 min (${cpus().length} CPUs)`, (r) => fixed(r.loadAverage, 1)),
    row(
      "event-loop delay p99 / max (real ms)",
      (r) => `${fixed(r.eventLoopDelay.p99Ms, 0)} / ${fixed(r.eventLoopDelay.maxMs, 0)}`
    )
  ]))
  out.push("")
  out.push(endpoints(results))
  const worker = results.find((r) => r.name === "worker")
  const naive = results.find((r) => r.name === "naive")
  if (worker && naive) {
    out.push("")
    out.push(
      `call ratio worker/naive: ${fixed(worker.stats.requests / naive.stats.requests)}  ` +
        `(status polls ${
          fixed(
            (worker.stats.byOperation["readMemberStatus"] ?? 0) /
              Math.max(1, naive.stats.byOperation["readMemberStatus"] ?? 0)
          )
        }); ` +
        `makespan ratio worker/naive: ${fixed(worker.makespanRealMs / naive.makespanRealMs)}`
    )
  }
  for (const r of results) {
    out.push("")
    out.push(...ending(r, r.name === "worker" ? "runs by outcome" : "members by end", flags.timeoutSeconds))
  }
  return out.join("\n")
}
