/**
 * The worker's throughput benchmark (a script, not a test). Drives N members to completion with the
 * real worker against the time-scaled MX sandbox (in a child process), then does the same with a
 * naive 3-second polling loop, and prints makespan, the rate limit's lower bound, MX calls per
 * aggregation by endpoint, CPU per aggregation and peak RSS. See bench/README.md.
 *
 *   node_modules/.bin/tsx bench/throughput.ts [--members 1000] [--time-scale 60] … (--help)
 *
 * @since 0.1.0
 */
import { Effect, Logger, LogLevel } from "effect"
import * as Flags from "./Flags.js"
import * as NaivePhase from "./NaivePhase.js"
import * as Phase from "./Phase.js"
import * as Report from "./Report.js"
import * as WorkerPhase from "./WorkerPhase.js"

const flags = Flags.parseOrExit("throughput", Flags.parse, Flags.usage)

const logs = Phase.countingLogger()

const main = Effect.gen(function*() {
  console.log(`throughput: ${Report.settings(flags)}`)
  const results: Array<Phase.Result> = []
  if (flags.worker) {
    process.stderr.write("worker phase…\n")
    results.push(yield* WorkerPhase.run(flags, logs))
  }
  if (flags.naive) {
    process.stderr.write("naive baseline…\n")
    results.push(yield* NaivePhase.run(flags, logs))
  }
  console.log("")
  console.log(Report.render(flags, results))
  if (flags.json) {
    console.log(JSON.stringify({
      flags,
      results: results.map((r) => ({ ...r, rateBoundMs: Report.rateBoundMs(r, flags) }))
    }))
  }
  return results.every((r) => r.completed === r.members && !r.timedOut)
})

Effect.runPromise(main.pipe(Effect.provide(logs.layer), Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error("throughput: failed:", error)
    process.exit(1)
  }
)
