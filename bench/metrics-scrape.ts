/**
 * The cost of one Prometheus scrape of the worker (`GET /metrics` runs the store's backlog gauges
 * first) at a given number of tracked members (a script, not a test). For each dialect it creates a
 * fresh database, seeds `--members` tracked members (a mix of due, running, challenged and scheduled
 * later, with runs in the journal), then times `--scrapes` scrapes and prints the median, min and max
 * milliseconds per scrape, the rows the store handed to the worker per scrape, the median of the same
 * scrape without the store's gauges (the exporter's own share), and the gauges (so that a faster
 * scrape is seen to count the same).
 *
 *   node_modules/.bin/tsx bench/metrics-scrape.ts [--members 10000] [--scrapes 50] [--dialect sqlite|pg|both] [--json]
 *
 * Rows are counted at the repositories the gauges read (each list element is a row; a count or an
 * aggregate row is one), so the figure means the same on both dialects and on any version of the gauges.
 * PostgreSQL is an embedded server started here unless `PG_URL` is set. Nothing leaves 127.0.0.1.
 *
 * @since 0.1.0
 */
import { Member } from "@mx-aggregation/domain"
import {
  AggregationRuns,
  Database,
  PendingChallenges,
  Store,
  TestDatabase,
  TrackedMembers
} from "@mx-aggregation/store"
import { EngineConfig, MetricsEndpoint, Observability, StoreGauges } from "@mx-aggregation/worker"
import { Context, Effect, Layer, Logger, LogLevel, Option, Schema } from "effect"
import startEmbeddedPostgres from "../test/support/embeddedPostgres.js"

interface Settings {
  readonly members: number
  readonly scrapes: number
  readonly dialects: ReadonlyArray<TestDatabase.Kind>
  readonly json: boolean
}

const usage = `usage: tsx bench/metrics-scrape.ts [--members N] [--scrapes N] [--dialect sqlite|pg|both] [--json]`

const parse = (args: ReadonlyArray<string>): Settings | string => {
  let members = 10_000
  let scrapes = 50
  let dialects: ReadonlyArray<TestDatabase.Kind> = ["sqlite", "pg"]
  let json = false
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!
    const value = args[i + 1]
    const positive = () => {
      const n = Number(value)
      i++
      return Number.isInteger(n) && n > 0 ? n : undefined
    }
    if (flag === "--members") {
      const n = positive()
      if (n === undefined || n < 100) return `--members must be an integer >= 100 (got ${value})`
      members = n
    } else if (flag === "--scrapes") {
      const n = positive()
      if (n === undefined) return `--scrapes must be a positive integer (got ${value})`
      scrapes = n
    } else if (flag === "--dialect") {
      i++
      if (value === "both") dialects = ["sqlite", "pg"]
      else if (value === "sqlite" || value === "pg") dialects = [value]
      else return `--dialect must be sqlite, pg or both (got ${value})`
    } else if (flag === "--json") {
      json = true
    } else if (flag === "--help" || flag === "-h") {
      return usage
    } else {
      return `unknown flag ${flag}\n${usage}`
    }
  }
  return { members, scrapes, dialects, json }
}

/** Rows the repositories handed out since the last reset. */
const rowCounter = { rows: 0 }

const rowsOf = (value: unknown): number => {
  if (Array.isArray(value)) return value.length
  if (Option.isOption(value)) return Option.isSome(value) ? 1 : 0
  return value === undefined || value === null ? 0 : 1
}

/** The repository with every result counted in `rowCounter` (the service is a record of effects and functions). */
const counting = <S extends object>(service: S): S =>
  new Proxy(service, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      const count = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(effect, (result) => Effect.sync(() => (rowCounter.rows += rowsOf(result))))
      if (Effect.isEffect(value)) return count(value)
      if (typeof value === "function") {
        return (...args: Array<unknown>) => {
          const result = (value as (...args: Array<unknown>) => unknown).apply(target, args)
          return Effect.isEffect(result) ? count(result) : result
        }
      }
      return value
    }
  })

const challenge = Schema.decodeUnknownSync(Member.Challenge)({ guid: "CRD-bench", type: "TEXT", label: "Code?" })

/**
 * Seeds `n` members at `now`: 40 % due, 10 % running, 10 % running and waiting on an MFA challenge,
 * 40 % due later; observed statuses spread over the classes; one finished run per four members.
 */
const seed = (n: number, now: number) =>
  Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const runs = yield* AggregationRuns.AggregationRuns
    const pending = yield* PendingChallenges.PendingChallenges
    const guid = (i: number) => Member.MemberGuid.make(`MBR-bench-${String(i).padStart(6, "0")}`)
    yield* tracked.trackMany(Array.from({ length: n }, (_, i) => ({
      memberGuid: guid(i),
      userGuid: Member.UserGuid.make(`USR-bench-${i % 500}`),
      nextDueAt: i % 10 < 4 ? now - 60_000 - i : now + 3_600_000 + i
    })))
    const statuses = ["CONNECTED", "CHALLENGED", "DENIED", "EXPIRED", "DEGRADED", "CREATED"] as const
    const expected = { due: 0, active: 0, challenges: 0 }
    yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
      Effect.gen(function*() {
        const memberGuid = guid(i)
        const kind = i % 10
        if (kind < 4) expected.due++
        if (i % 3 !== 0) {
          yield* tracked.recordObservation({
            memberGuid,
            status: kind === 5 ? "CHALLENGED" : statuses[i % statuses.length]!,
            isBeingAggregated: false
          })
        }
        if (kind === 4 || kind === 5) {
          const runId = AggregationRuns.RunId.make(`run-bench-${i}`)
          yield* tracked.claim(memberGuid, runId)
          yield* runs.start({ runId, memberGuid, reason: "scheduled" })
          expected.active++
          if (kind === 5) {
            yield* pending.add({ memberGuid, runId, challenges: [challenge], expiresAt: now + 600_000 })
            expected.challenges++
          }
        } else if (i % 4 === 0) {
          const runId = AggregationRuns.RunId.make(`run-bench-done-${i}`)
          yield* runs.start({ runId, memberGuid, reason: "scheduled" })
          yield* runs.finish({ runId, outcome: i % 8 === 0 ? "connected" : "failed", failureReason: null })
        }
      }), { concurrency: 8, discard: true })
    return expected
  })

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const gauge = (text: string, name: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `))
  return line === undefined ? null : Number(line.slice(name.length + 1))
}

const measure = (kind: TestDatabase.Kind, settings: Settings) =>
  Effect.gen(function*() {
    const database = yield* TestDatabase.fresh(kind)
    const store = yield* Layer.build(Store.layer.pipe(Layer.provide(Database.layerFrom(database))))
    const now = Date.now()
    process.stderr.write(`${kind}: seeding ${settings.members} members…\n`)
    const seededAt = performance.now()
    const expected = yield* Effect.provide(seed(settings.members, now), store)
    process.stderr.write(`${kind}: seeded in ${((performance.now() - seededAt) / 1000).toFixed(1)} s\n`)

    const countedStore = Layer.mergeAll(
      Layer.succeed(TrackedMembers.TrackedMembers, counting(Context.get(store, TrackedMembers.TrackedMembers))),
      Layer.succeed(AggregationRuns.AggregationRuns, counting(Context.get(store, AggregationRuns.AggregationRuns))),
      Layer.succeed(
        PendingChallenges.PendingChallenges,
        counting(Context.get(store, PendingChallenges.PendingChallenges))
      )
    )
    const observability = yield* Layer.build(
      StoreGauges.layer.pipe(
        Layer.provideMerge(Observability.layer()),
        Layer.provide(countedStore),
        Layer.provide(EngineConfig.layer())
      )
    )
    const prometheus = Context.get(observability, MetricsEndpoint.Prometheus)
    // Warm-up: prepared statements, JIT, connection pool.
    for (let i = 0; i < 3; i++) yield* prometheus.scrape
    rowCounter.rows = 0
    const times: Array<number> = []
    let text = ""
    for (let i = 0; i < settings.scrapes; i++) {
      const started = performance.now()
      text = yield* prometheus.scrape
      times.push(performance.now() - started)
    }
    // The same scrape without the store's gauges: what the exporter itself costs.
    const bare = Context.get(yield* Layer.build(Observability.layer()), MetricsEndpoint.Prometheus)
    for (let i = 0; i < 3; i++) yield* bare.scrape
    const bareTimes: Array<number> = []
    for (let i = 0; i < settings.scrapes; i++) {
      const started = performance.now()
      yield* bare.scrape
      bareTimes.push(performance.now() - started)
    }
    const gauges = {
      due: gauge(text, "mx_aggregation_members_due"),
      active: gauge(text, "mx_aggregation_runs_active"),
      challenges: gauge(text, "mx_aggregation_challenges_pending")
    }
    return {
      dialect: kind,
      members: settings.members,
      scrapes: settings.scrapes,
      medianMs: median(times),
      minMs: Math.min(...times),
      maxMs: Math.max(...times),
      rowsPerScrape: rowCounter.rows / settings.scrapes,
      withoutGaugesMedianMs: median(bareTimes),
      gauges,
      expected,
      correct: gauges.due === expected.due && gauges.active === expected.active &&
        gauges.challenges === expected.challenges
    }
  }).pipe(Effect.scoped)

const main = (settings: Settings) =>
  Effect.gen(function*() {
    const results = []
    for (const kind of settings.dialects) results.push(yield* measure(kind, settings))
    const rows = results.map((r) =>
      [
        r.dialect.padEnd(7),
        String(r.members).padStart(7),
        String(r.scrapes).padStart(7),
        r.medianMs.toFixed(2).padStart(10),
        r.minMs.toFixed(2).padStart(8),
        r.maxMs.toFixed(2).padStart(8),
        String(r.rowsPerScrape).padStart(11),
        r.withoutGaugesMedianMs.toFixed(2).padStart(17),
        `due ${r.gauges.due}/${r.expected.due}, active ${r.gauges.active}/${r.expected.active}, ` +
        `challenges ${r.gauges.challenges}/${r.expected.challenges}${r.correct ? "" : "  MISMATCH"}`
      ].join("  ")
    )
    console.log(
      [
        "dialect  members  scrapes   median ms    min ms    max ms  rows/scrape  median w/o gauges  gauges (scraped/seeded)",
        ...rows
      ].join("\n")
    )
    if (settings.json) console.log(JSON.stringify(results))
    return results.every((r) => r.correct)
  })

const settings = parse(process.argv.slice(2))
if (typeof settings === "string") {
  process.stderr.write(`${settings}\n`)
  process.exit(settings === usage ? 0 : 2)
}
// The embedded server only when PostgreSQL is measured and none is given (PG_URL).
const stopPostgres = settings.dialects.includes("pg") ? await startEmbeddedPostgres() : undefined
const correct = await Effect.runPromise(
  main(settings).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
).finally(() => stopPostgres?.())
process.exit(correct ? 0 : 1)
