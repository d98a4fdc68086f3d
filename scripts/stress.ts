/**
 * Runs one test file many times while a CPU hog keeps every core busy, to tell a test that holds
 * under load from one that passes by luck:
 *
 *   npm run stress -- test/worker/crash-recovery.test.ts --times 20
 *
 * Flags: `--times N` (default 20), `--hogs K` busy processes beside the tests (default: one per core),
 * `--bail` stop at the first failure. Each run is `vitest run <file>` in a process of its own; the
 * output of a failed run is kept in a file whose path is printed. Exits 1 when any run failed.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { fleetSuites } from "../test/vitest.config.js"

const usage = "usage: npm run stress -- <test file> [--times N] [--hogs K] [--bail]"

interface Options {
  readonly file: string
  readonly times: number
  readonly hogs: number
  readonly bail: boolean
}

const parse = (args: ReadonlyArray<string>): Options => {
  let file: string | undefined
  let times = 20
  let hogs = availableParallelism()
  let bail = false
  const count = (flag: string, value: string | undefined, min: number) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer of at least ${min}, got ${value}`)
    return n
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--times") times = count(arg, args[++i], 1)
    else if (arg === "--hogs") hogs = count(arg, args[++i], 0)
    else if (arg === "--bail") bail = true
    else if (arg.startsWith("--")) throw new Error(`unknown flag ${arg}`)
    else if (file === undefined) file = arg
    else throw new Error(`one test file at a time (got ${file} and ${arg})`)
  }
  if (file === undefined) throw new Error("which test file?")
  return { file, times, hogs, bail }
}

/** A process that spins on one core until killed. */
const hog = (): ChildProcess => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" })

/** Whether `file` is one of the daemon-fleet suites, which vitest runs only with `MX_TEST_SUITES=fleet`. */
const isFleetSuite = (file: string): boolean => {
  const path = relative("test", resolve(file))
  return fleetSuites.some((suite) => suite.endsWith("/**") ? path.startsWith(suite.slice(0, -2)) : path === suite)
}

/** The test run in progress: its process group is killed with the stress run. */
let current: ChildProcess | undefined

const runOnce = (file: string): Promise<{ readonly ok: boolean; readonly output: string; readonly ms: number }> =>
  new Promise((done) => {
    const started = Date.now()
    // A process group of its own: vitest's workers, the worker daemons and PostgreSQL servers the test
    // starts go with it when the stress run is stopped.
    const child = spawn(process.execPath, ["node_modules/vitest/vitest.mjs", "run", file], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        FORCE_COLOR: "0",
        NO_COLOR: "1",
        ...(isFleetSuite(file) ? { MX_TEST_SUITES: "fleet" } : {})
      }
    })
    current = child
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("close", (code) => done({ ok: code === 0, output, ms: Date.now() - started }))
  })

const main = async () => {
  let options: Options
  try {
    options = parse(process.argv.slice(2))
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`)
    process.exit(2)
  }
  const hogs = Array.from({ length: options.hogs }, hog)
  const stop = () => hogs.forEach((h) => h.kill("SIGKILL"))
  const interrupt = (signal: NodeJS.Signals) => () => {
    stop()
    // The test run's whole group: SIGTERM lets the test's own teardowns stop what they started.
    if (current?.pid !== undefined && current.exitCode === null) process.kill(-current.pid, "SIGTERM")
    process.exit(signal === "SIGINT" ? 130 : 143)
  }
  process.on("SIGINT", interrupt("SIGINT"))
  process.on("SIGTERM", interrupt("SIGTERM"))
  const logs = mkdtempSync(join(tmpdir(), "stress-"))
  console.log(`${options.file}: ${options.times} runs beside ${options.hogs} busy process(es)`)
  const durations: Array<number> = []
  const failures: Array<string> = []
  try {
    for (let i = 1; i <= options.times; i++) {
      const { ms, ok, output } = await runOnce(options.file)
      durations.push(ms)
      const plain = output.replace(/\u001b\[[0-9;]*m/g, "")
      const summary = plain.match(/Tests\s+[^\n]*/)?.[0].replace(/\s+/g, " ").trim() ?? "no summary"
      if (ok) {
        console.log(`run ${i}: passed in ${(ms / 1000).toFixed(1)} s (${summary})`)
      } else {
        const log = join(logs, `run-${i}.log`)
        writeFileSync(log, output)
        failures.push(log)
        console.log(`run ${i}: FAILED in ${(ms / 1000).toFixed(1)} s (${summary}); output in ${log}`)
        if (options.bail) break
      }
    }
  } finally {
    stop()
  }
  const sorted = [...durations].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  console.log(
    `${options.file}: ${durations.length - failures.length}/${durations.length} passed, ${failures.length} failed; ` +
      `per run median ${(median / 1000).toFixed(1)} s, min ${(sorted[0]! / 1000).toFixed(1)} s, max ${
        (sorted.at(-1)! / 1000).toFixed(1)
      } s`
  )
  process.exit(failures.length === 0 ? 0 : 1)
}

void main()
