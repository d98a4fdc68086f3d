/**
 * The full reliability run: `npm run reliability` (or `npx tsx test/reliability/run.ts`). Every
 * scenario's seeded trials one after the other, then a table of figures per scenario. Exits 1 when a
 * trial broke a rule.
 *
 *   --seed <text>        the seed (default: the date and time); printed, so a run can be repeated
 *   --only <scenario>    kills, database-restart, mx-faults, webhooks or split-brain (repeatable)
 *   --trials <n>         trials per scenario instead of the defaults (kills 30, split-brain 6, others 4)
 *   --fast               the `npm test` subset instead of the full run
 *   --concurrency <n>    trials at once (default 1; the machine's cores bound what helps)
 *   --verbose            print every trial's timeline, not only the failed ones'
 *   --logs <dir>         write each trial's timeline and its replicas' whole output to <dir>/<trial>.log
 *
 * PostgreSQL: trials on a shared server use `PG_URL` when it is set, otherwise the run starts an
 * embedded one; the database-restart trials always start servers of their own.
 */
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import setupPostgres from "../support/embeddedPostgres.js"
import * as Figures from "./support/Figures.js"
import * as Scenarios from "./support/Scenarios.js"
import * as Trial from "./support/Trial.js"

const scenarioNames = ["kills", "database-restart", "mx-faults", "webhooks", "split-brain"] as const
type ScenarioName = typeof scenarioNames[number]

interface Flags {
  readonly seed: string
  readonly only: ReadonlyArray<ScenarioName>
  readonly trials: number | undefined
  readonly mode: Scenarios.Mode
  readonly concurrency: number
  readonly verbose: boolean
  readonly logs: string | undefined
}

const usage = "usage: tsx test/reliability/run.ts [--seed <text>] [--only <scenario>]... [--trials <n>] [--fast] " +
  "[--concurrency <n>] [--verbose] [--logs <dir>]"

const parseFlags = (argv: ReadonlyArray<string>): Flags => {
  let seed = new Date().toISOString().replace(/[:.]/g, "-")
  const only: Array<ScenarioName> = []
  let trials: number | undefined
  let mode: Scenarios.Mode = "full"
  let concurrency = 1
  let verbose = false
  let logs: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value\n${usage}`)
      return v
    }
    const count = (name: string, v: string) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer\n${usage}`)
      return n
    }
    switch (flag) {
      case "--seed":
        seed = value()
        break
      case "--only": {
        const name = value()
        if (!(scenarioNames as ReadonlyArray<string>).includes(name)) {
          throw new Error(`unknown scenario ${name}: one of ${scenarioNames.join(", ")}`)
        }
        only.push(name as ScenarioName)
        break
      }
      case "--trials":
        trials = count("--trials", value())
        break
      case "--fast":
        mode = "fast"
        break
      case "--concurrency":
        concurrency = count("--concurrency", value())
        break
      case "--verbose":
        verbose = true
        break
      case "--logs":
        logs = value()
        break
      case "--help":
        console.log(usage)
        process.exit(0)
        break
      default:
        throw new Error(`unknown flag ${flag}\n${usage}`)
    }
  }
  return { seed, only: only.length > 0 ? only : [...scenarioNames], trials, mode, concurrency, verbose, logs }
}

const specsOf = (name: ScenarioName, flags: Flags): Array<Trial.Spec> => {
  switch (name) {
    case "kills":
      return Scenarios.kills(flags.seed, flags.mode, flags.trials)
    case "database-restart":
      return Scenarios.databaseRestart(flags.seed, flags.mode, flags.trials)
    case "mx-faults":
      return Scenarios.mxFaults(flags.seed, flags.mode, flags.trials)
    case "webhooks":
      return Scenarios.webhooks(flags.seed, flags.mode, flags.trials)
    case "split-brain":
      return Scenarios.splitBrain(flags.seed, flags.mode, flags.trials)
  }
}

const main = async () => {
  const flags = parseFlags(process.argv.slice(2))
  console.log(`reliability run: seed ${flags.seed}, ${flags.mode} mode, scenarios ${flags.only.join(", ")}`)
  const teardown = await setupPostgres()
  const rows: Array<Figures.Row> = []
  const notes: Array<string> = []
  let failed = 0
  try {
    for (const name of flags.only) {
      const specs = specsOf(name, flags)
      const results = await Effect.runPromise(
        Effect.forEach(specs, (spec) =>
          Trial.run(spec).pipe(
            Effect.tap((result) =>
              Effect.sync(() => {
                const f = result.figures
                const verdict = f.violations.length === 0 ? "ok" : `FAILED: ${f.violations.join("; ")}`
                console.log(`${f.trial}: ${(f.durationMs / 1000).toFixed(1)} s, ${f.kills} kill(s), ${verdict}`)
                if (f.violations.length > 0 || flags.verbose) console.log(result.report)
                if (flags.logs !== undefined) {
                  mkdirSync(flags.logs, { recursive: true })
                  writeFileSync(join(flags.logs, `${f.trial}.log`), result.fullReport)
                }
              })
            )
          ), { concurrency: flags.concurrency })
      )
      const figures = results.map((r) => r.figures)
      failed += figures.filter((f) => f.violations.length > 0).length
      rows.push(Figures.summarize(name, figures))
      const extra: Record<string, number> = {}
      for (const f of figures) for (const [k, v] of Object.entries(f.extra)) extra[k] = (extra[k] ?? 0) + v
      if (Object.keys(extra).length > 0) {
        notes.push(`${name}: ${Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(", ")}`)
      }
    }
  } finally {
    await teardown?.()
  }
  console.log(`\nseed ${flags.seed}\n`)
  console.log(Figures.table(rows))
  console.log("")
  for (const note of notes) console.log(note)
  if (failed > 0) {
    console.log(`\n${failed} trial(s) broke a rule`)
    process.exitCode = 1
  }
}

main().then(
  // Exit even if a hung trial left something behind.
  () => process.exit(),
  (error) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(2)
  }
)
