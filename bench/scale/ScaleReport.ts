/**
 * The scale benchmark's printed tables: the headline figures of each phase side by side, CPU and
 * memory per replica, MX calls per aggregation by endpoint, and the ratios of each phase to the first.
 *
 * @since 0.1.0
 */
import { cpus } from "node:os"
import * as Population from "../Population.js"
import { duration, ending, endpoints, fixed, int, mb, statusCounts, table } from "../Report.js"
import { rateLimitPerReplica, type ScaleFlags } from "./ScaleFlags.js"
import type { Result } from "./ScalePhase.js"

/**
 * The one-line description of a run's settings.
 *
 * @since 0.1.0
 * @category formatting
 */
export const settings = (flags: ScaleFlags, database: string): string => {
  const users = Population.users(flags)
  const mfa = users.reduce((n, u) => n + u.passwords.filter((p) => p === Population.mfaPassword).length, 0)
  const shares = flags.replicas.map((n) => `${n} x ${rateLimitPerReplica(flags, n)}/s`).join(", ")
  return `${int(flags.members)} members over ${int(users.length)} users (${int(mfa)} with MFA), ` +
    `replicas ${flags.replicas.join(", ")} on ${database}, aggregation ${flags.aggregationSeconds} s MX, ` +
    `latency ${flags.latencyMs} ms, time scale ${flags.timeScale}, seed ${flags.seed}; ` +
    `MX rate limit ${flags.rateLimit}/s for the fleet (MX limits a client, not a process: ${shares}; ` +
    `the sandbox answers 429 above ${flags.rateLimit}/s), per replica ${flags.concurrency} requests in flight ` +
    `and ${flags.maxRuns} runs (latency and rate limit in real time)`
}

/**
 * The lower bound the rate limit allows: every call the phase made, sent at the fleet's rate limit.
 *
 * @since 0.1.0
 * @category figures
 */
export const rateBoundMs = (r: Result): number => (r.stats.requests / r.fleetRateLimit) * 1000

/**
 * Completed aggregations per real second.
 *
 * @since 0.1.0
 * @category figures
 */
export const perRealSecond = (r: Result): number => r.completed / (r.makespanRealMs / 1000)

/**
 * CPU milliseconds of all replicas together (after their start-up) per member.
 *
 * @since 0.1.0
 * @category figures
 */
export const cpuMsPerAggregation = (r: Result): number => r.perReplica.reduce((n, p) => n + p.cpuMs, 0) / r.members

/**
 * Growth of the database per 1,000 members, over the empty database.
 *
 * @since 0.1.0
 * @category figures
 */
export const bytesPer1000 = (r: Result): number => ((r.databaseBytes.end - r.databaseBytes.empty) / r.members) * 1000

const peakByMember = (r: Result) => Math.max(0, ...Object.values(r.stats.peakConcurrencyByMember))

/**
 * The full report.
 *
 * @since 0.1.0
 * @category formatting
 */
export const render = (flags: ScaleFlags, results: ReadonlyArray<Result>): string => {
  const out: Array<string> = []
  const row = (label: string, f: (r: Result) => string) => [label, ...results.map(f)]
  out.push(table(["", ...results.map((r) => r.name)], [
    row("members completed (CONNECTED, data pulled)", (r) => `${int(r.completed)}/${int(r.members)}`),
    row("MX rate limit per replica / fleet (real time)", (r) => `${r.rateLimitPerReplica}/s / ${r.fleetRateLimit}/s`),
    row("all replicas answer /health after", (r) => duration(r.fleetReadyMs)),
    row("all members tracked (discovery) after", (r) => r.trackedAllMs === null ? "-" : duration(r.trackedAllMs)),
    row("makespan, real time", (r) => duration(r.makespanRealMs)),
    row("makespan, MX time", (r) => duration(r.makespanMxMs)),
    row("throughput, aggregations per real second", (r) => fixed(perRealSecond(r))),
    row("throughput, aggregations per MX minute", (r) => fixed(r.completed / (r.makespanMxMs / 60_000), 1)),
    row("MX calls", (r) => int(r.stats.requests)),
    row("MX calls per aggregation", (r) => fixed(r.stats.requests / r.members)),
    row("lower bound: calls / fleet rate limit (real)", (r) => duration(rateBoundMs(r))),
    row("makespan / lower bound", (r) => fixed(r.makespanRealMs / rateBoundMs(r))),
    row("aggregations started at MX", (r) => int(r.stats.aggregationsStarted)),
    row("MFA rounds answered", (r) => int(r.mfaAnswered)),
    row("429 / 5xx / other 4xx responses", (r) => statusCounts(r.stats)),
    row("resumes outside CHALLENGED", (r) => int(r.stats.resumesOutsideChallenged)),
    row(
      "shortest poll interval (MX s)",
      (r) => r.stats.minPollIntervalMs === null ? "-" : fixed(r.stats.minPollIntervalMs / 1000, 1)
    ),
    row("peak MX requests in flight: all / one member", (r) => `${int(r.stats.peakConcurrency)} / ${peakByMember(r)}`),
    row("CPU s, all replicas (after start-up)", (r) => fixed(r.perReplica.reduce((n, p) => n + p.cpuMs, 0) / 1000, 1)),
    row("CPU ms per aggregation, all replicas", (r) => fixed(cpuMsPerAggregation(r))),
    row(
      "CPU ms per aggregation, sandbox child",
      (r) => r.sandboxCpuMs === null ? "-" : fixed(r.sandboxCpuMs / r.members)
    ),
    row(
      "CPU ms per aggregation, PostgreSQL",
      (r) => r.postgresCpuMs === null ? "-" : fixed(r.postgresCpuMs / r.members)
    ),
    row("peak RSS, largest replica", (r) => mb(Math.max(0, ...r.perReplica.map((p) => p.peakRssBytes)))),
    row("database size: empty / at the end", (r) => `${mb(r.databaseBytes.empty)} / ${mb(r.databaseBytes.end)}`),
    row("database growth per 1,000 members", (r) => mb(bytesPer1000(r))),
    row(`machine load average, 1 min (${cpus().length} CPUs)`, (r) => fixed(r.loadAverage, 1))
  ]))
  out.push("")
  out.push("per replica (CPU after start-up; per aggregation: its CPU over all the phase's members)")
  out.push(table(
    ["phase", "replica", "/health after", "start-up CPU s", "CPU s", "CPU ms per aggregation", "peak RSS"],
    results.flatMap((r) =>
      r.perReplica.map((p) => [
        r.name,
        `${p.index + 1}${p.exited ? " (exited)" : ""}`,
        duration(p.readyAfterMs),
        fixed(p.startupCpuMs / 1000, 1),
        fixed(p.cpuMs / 1000, 1),
        fixed(p.cpuMs / r.members),
        mb(p.peakRssBytes)
      ])
    )
  ))
  out.push("")
  out.push(endpoints(results))
  const first = results[0]
  for (const r of results.slice(1)) {
    if (first === undefined) break
    out.push("")
    out.push(
      `${r.name} / ${first.name}: throughput ${fixed(perRealSecond(r) / perRealSecond(first))}, ` +
        `makespan ${fixed(r.makespanRealMs / first.makespanRealMs)}, ` +
        `makespan / lower bound ${fixed(r.makespanRealMs / rateBoundMs(r))} against ${
          fixed(first.makespanRealMs / rateBoundMs(first))
        }, MX calls per aggregation ${fixed(r.stats.requests / first.stats.requests)}, ` +
        `CPU ms per aggregation ${fixed(cpuMsPerAggregation(r) / cpuMsPerAggregation(first))}`
    )
  }
  for (const r of results) {
    const tables = r.largestTables.map((t) => `${t.name} ${mb(t.bytes)}`).join(", ")
    out.push("")
    out.push(
      ...ending({ ...r, notes: [...r.notes, `largest tables: ${tables}`] }, "runs by outcome", flags.timeoutSeconds)
    )
  }
  return out.join("\n")
}
