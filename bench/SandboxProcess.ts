/**
 * Starts the benchmark's MX sandbox as a child process (`sandboxMain.ts`) and talks to it: its URL,
 * credentials and members when ready, its API counters over `GET /sandbox/stats`, and its CPU time
 * and peak memory from `/proc` (Linux; `null` elsewhere).
 *
 * @since 0.1.0
 */
import type { Stats } from "@mx-aggregation/mx-sandbox"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import type { SandboxFlags } from "./Flags.js"
import type * as Population from "./Population.js"

/**
 * The child's settings, passed as one JSON argument.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly seed: string
  readonly timeScale: number
  readonly aggregationSeconds: number
  /** Latency added to every MX API response, real milliseconds. */
  readonly latencyRealMs: number
  readonly population: Population.Plan
  /** Create the members with `skip_aggregation` (no aggregation until someone calls aggregate). */
  readonly skipAggregation: boolean
  /**
   * MX's rate limit, enforced by the sandbox: requests per real second over all clients (a token
   * bucket holding one second's worth), answered 429 above it. Unset: no limit at MX.
   */
  readonly rateLimit?: number | undefined
}

/**
 * The settings of the benchmarks' sandbox: members created with `skip_aggregation`, so that the
 * worker's own aggregate calls are what is measured (MX's automatic aggregation at member creation
 * would make the worker only follow it, FollowAggregation, and hide the cost of aggregating).
 *
 * @since 0.1.0
 * @category constructors
 */
export const settingsFor = (flags: SandboxFlags, options: { readonly rateLimit?: number } = {}): Settings => ({
  seed: flags.seed,
  timeScale: flags.timeScale,
  aggregationSeconds: flags.aggregationSeconds,
  latencyRealMs: flags.latencyMs,
  population: { members: flags.members, membersPerUser: flags.membersPerUser, mfaShare: flags.mfaShare },
  skipAggregation: true,
  rateLimit: options.rateLimit
})

/**
 * A user the child created, with its members in creation order.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadyUser {
  readonly userGuid: string
  readonly members: ReadonlyArray<{ readonly guid: string; readonly password: string }>
}

/**
 * The line the child prints once it serves. `realMs`/`mxMs` are one instant on both clocks.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ready {
  readonly url: string
  readonly clientId: string
  readonly apiKey: string
  readonly realMs: number
  readonly mxMs: number
  readonly users: ReadonlyArray<ReadyUser>
}

/**
 * CPU time (user + system) and peak resident memory of a process.
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly cpuMs: number
  readonly peakRssBytes: number
}

/**
 * A running sandbox child.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle extends Ready {
  readonly pid: number
  readonly stats: () => Promise<Stats.Stats>
  readonly usage: () => Usage | null
  /** Starts webhook delivery (MX's CONNECTION_STATUS and member_data_updated) to `url`. */
  readonly setWebhookUrl: (url: string) => void
  readonly stop: () => Promise<void>
}

const clockTicks = 100 // USER_HZ: 100 on every Linux architecture Node supports.

/**
 * A process's parent and CPU time from `/proc/<pid>/stat`: its own (user + system) and that of its
 * children it has waited for; null when the process or /proc is missing.
 *
 * @since 0.1.0
 * @category measurement
 */
export const procStat = (
  pid: number
): { readonly ppid: number; readonly cpuMs: number; readonly reapedChildrenCpuMs: number } | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ms = (a: number, b: number) => ((Number(fields[a]) + Number(fields[b])) * 1000) / clockTicks
    return { ppid: Number(fields[1]), cpuMs: ms(11, 12), reapedChildrenCpuMs: ms(13, 14) }
  } catch {
    return null
  }
}

/** CPU and peak RSS of a process from /proc, or null where /proc is missing. */
export const usageOf = (pid: number): Usage | null => {
  try {
    const stat = procStat(pid)
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
    return stat === null ? null : { cpuMs: stat.cpuMs, peakRssBytes: hwm ? Number(hwm[1]) * 1024 : 0 }
  } catch {
    return null
  }
}

/**
 * Spawns the sandbox child with `node --import tsx` (one process, so that its pid is the sandbox's)
 * and waits for its ready line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (settings: Settings, options: { readonly readyTimeoutMs?: number } = {}): Promise<Handle> => {
  const script = fileURLToPath(new URL("./sandboxMain.ts", import.meta.url))
  const tsx = createRequire(import.meta.url).resolve("tsx")
  const child: ChildProcess = spawn(process.execPath, ["--import", tsx, script, JSON.stringify(settings)], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  return new Promise<Handle>((resolve, reject) => {
    let buffer = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error("the sandbox child did not start in time"))
    }, options.readyTimeoutMs ?? 120_000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the sandbox child exited before it was ready (code ${code}, signal ${signal})`))
    })
    child.stdout!.setEncoding("utf8")
    child.stdout!.on("data", (chunk: string) => {
      buffer += chunk
      const newline = buffer.indexOf("\n")
      if (newline === -1) return
      clearTimeout(timer)
      child.removeAllListeners("exit")
      let ready: Ready
      try {
        ready = JSON.parse(buffer.slice(0, newline)) as Ready
      } catch (error) {
        child.kill("SIGKILL")
        return reject(error)
      }
      const pid = child.pid!
      resolve({
        ...ready,
        pid,
        stats: async () => {
          const response = await fetch(`${ready.url}/sandbox/stats`)
          if (!response.ok) throw new Error(`GET /sandbox/stats answered ${response.status}`)
          return (await response.json()) as Stats.Stats
        },
        usage: () => usageOf(pid),
        setWebhookUrl: (url) => {
          child.stdin!.write(`webhook ${url}\n`)
        },
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done()
            child.once("exit", () => done())
            child.stdin!.end()
            setTimeout(() => child.kill("SIGKILL"), 5_000).unref()
          })
      })
    })
  })
}
