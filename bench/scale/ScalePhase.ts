/**
 * One phase of the scale benchmark: a fresh sandbox child (same seed and members in every phase), a
 * fresh PostgreSQL database, and N worker replicas on it as cluster runners, driven until every member
 * finished CONNECTED with its data pulled. The replicas discover the users' members and run them, as
 * in production; the benchmark only answers MFA challenges (`correct`) through the control API of
 * one replica after the other, as a present user would, and reads its progress from the database.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Member } from "@mx-aggregation/domain"
import { MxBank, type Stats } from "@mx-aggregation/mx-sandbox"
import { Database, PendingChallenges, Store, TestDatabase } from "@mx-aggregation/store"
import { Array as Arr, ConfigProvider, Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { loadavg } from "node:os"
import * as Completion from "../Completion.js"
import * as Phase from "../Phase.js"
import * as SandboxProcess from "../SandboxProcess.js"
import * as PostgresUsage from "./PostgresUsage.js"
import * as Replicas from "./Replicas.js"
import { rateLimitPerReplica, type ScaleFlags } from "./ScaleFlags.js"

/**
 * What one replica used during the phase.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplicaResult {
  readonly index: number
  readonly pid: number
  /** Real milliseconds from the start of the phase until its `/health` answered. */
  readonly readyAfterMs: number
  /** CPU time until `/health` answered (tsx, migrations, the engine's start). */
  readonly startupCpuMs: number
  /** CPU time from `/health` to the end of the phase. */
  readonly cpuMs: number
  /** Peak resident memory over its life (`VmHWM`). */
  readonly peakRssBytes: number
  /** It exited before the phase ended. */
  readonly exited: boolean
}

/**
 * The measurements of one phase.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly name: string
  readonly replicas: number
  readonly members: number
  /** Members driven to the end: CONNECTED, data pulled, no run active. */
  readonly completed: number
  /** MX_RATE_LIMIT of each replica, and the fleet's total (replicas × that). */
  readonly rateLimitPerReplica: number
  readonly fleetRateLimit: number
  readonly makespanRealMs: number
  readonly makespanMxMs: number
  /** Real milliseconds until every replica's `/health` answered (they start one after the other). */
  readonly fleetReadyMs: number
  /** Real milliseconds until every member was tracked (discovery), or null. */
  readonly trackedAllMs: number | null
  /** The sandbox's counters for the phase (no setup call is counted). */
  readonly stats: Stats.Stats
  readonly mfaAnswered: number
  /** MFA answers that failed, each try counted. */
  readonly answerFailures: number
  readonly perReplica: ReadonlyArray<ReplicaResult>
  /** CPU time of the sandbox child during the phase. */
  readonly sandboxCpuMs: number | null
  /** CPU time of the PostgreSQL server during the phase (null when it does not run on this machine). */
  readonly postgresCpuMs: number | null
  /** `pg_database_size` once the store's schema is in place (before any replica), and at the end. */
  readonly databaseBytes: { readonly empty: number; readonly end: number }
  /** The largest tables at the end, with their indexes and TOAST. */
  readonly largestTables: ReadonlyArray<{ readonly name: string; readonly bytes: number }>
  /** The machine's 1-minute load average at the end of the phase. */
  readonly loadAverage: number
  readonly outcomes: Readonly<Record<string, number>>
  readonly timedOut: boolean
  readonly stuck: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<readonly [string, number]>
  readonly notes: ReadonlyArray<string>
}

/**
 * The phase's name in the report.
 *
 * @since 0.1.0
 * @category formatting
 */
export const nameOf = (replicas: number): string => `${replicas} ${replicas === 1 ? "replica" : "replicas"}`

const token = "bench-scale-token-0123456789abcdef"

interface Answers {
  answered: number
  failed: number
}

/**
 * Answers every open challenge with `correct` as soon as the worker stored it, through the control API
 * of one replica after the other (a replica that does not run the member's workflow passes the answer
 * on through the cluster). The open rounds are read from the database over this process's connection
 * (listing them through the control API every 200 ms would load the replicas). An answer that failed
 * for a transient reason is sent again on a later pass, up to 5 times; a refusal (`Conflict`: the run
 * no longer waits, `Invalid`, `NotFound`) is final.
 */
const answerer = (replicas: ReadonlyArray<Replicas.Replica>, counts: Answers) =>
  Effect.gen(function*() {
    const pending = yield* PendingChallenges.PendingChallenges
    const done = new Set<number>()
    const tries = new Map<number, number>()
    let turn = 0
    return yield* Effect.gen(function*() {
      const open = (yield* pending.listPending()).filter((p) => !done.has(p.id))
      yield* Effect.forEach(open, (p) => {
        const answers = p.challenges.map((c) =>
          Member.CredentialValue.make({ guid: c.guid, value: Redacted.make(MxBank.correctAnswer) })
        )
        if (!Arr.isNonEmptyReadonlyArray(answers)) return Effect.void
        const api = replicas[turn++ % replicas.length]!.api
        return api.members.answer({ path: { memberGuid: p.memberGuid }, payload: { answers } }).pipe(
          Effect.timeout("30 seconds"),
          Effect.matchEffect({
            onSuccess: () =>
              Effect.sync(() => {
                done.add(p.id)
                counts.answered++
              }),
            onFailure: (error) =>
              Effect.sync(() => {
                const attempts = (tries.get(p.id) ?? 0) + 1
                tries.set(p.id, attempts)
                counts.failed++
                const final = ["Conflict", "Invalid", "NotFound"].includes(error._tag)
                if (final || attempts >= 5) done.add(p.id)
              }).pipe(Effect.zipRight(Effect.logWarning(`answering MFA through the control API failed: ${error._tag}`)))
          })
        )
      }, { concurrency: 16, discard: true })
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("MFA answerer pass failed", cause)),
      Effect.zipRight(Effect.sleep("200 millis")),
      Effect.forever
    )
  })

/** `pg_database_size` of the database the client is connected to. */
const databaseSize = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly bytes: string | number }>`SELECT pg_database_size(current_database()) AS bytes`
  return Number(rows[0]?.bytes ?? 0)
})

const largestTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly name: string; readonly bytes: string | number }>`
    SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 6`
  return rows.map((r) => ({ name: r.name, bytes: Number(r.bytes) }))
})

/**
 * The members MX saw more than one request in flight for, with their runs: a member is run by one
 * replica at a time, so two requests at once point at two runs, or one run executed twice.
 */
const overlapping = (stats: Stats.Stats) =>
  Effect.gen(function*() {
    const guids = Object.entries(stats.peakConcurrencyByMember).filter(([, peak]) => peak > 1).map(([guid]) => guid)
    if (guids.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly member_guid: string; readonly runs: string | number; readonly reasons: string }>`
      SELECT member_guid, COUNT(*) AS runs, STRING_AGG(reason || ':' || COALESCE(outcome, 'running'), ',') AS reasons
      FROM aggregation_runs WHERE member_guid IN ${sql.in(guids.slice(0, 5))} GROUP BY member_guid`
    return [
      `members with more than one MX request in flight at once: ${guids.length}`,
      ...rows.map((r) =>
        `  ${r.member_guid}: ${stats.byMember[r.member_guid] ?? 0} MX calls, ${Number(r.runs)} run(s) (${r.reasons})`
      )
    ]
  })

/**
 * The longest runs, each with its timeline in real seconds from the start of the phase: the statuses
 * it observed and its MFA rounds (stored, resolved). A long tail in the makespan starts here.
 */
const longestRuns = (mxStart: number, timeScale: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const at = (mxMs: string | number | null) =>
      mxMs === null ? "-" : `+${((Number(mxMs) - mxStart) / timeScale / 1000).toFixed(0)} s`
    const runs = yield* sql<{
      readonly run_id: string
      readonly member_guid: string
      readonly started_at: string | number
      readonly ended_at: string | number
      readonly outcome: string | null
      readonly mx_calls: string | number
    }>`SELECT run_id, member_guid, started_at, ended_at, outcome, mx_calls FROM aggregation_runs
      WHERE ended_at IS NOT NULL ORDER BY ended_at - started_at DESC LIMIT 2`
    const lines: Array<string> = []
    for (const run of runs) {
      const observed = yield* sql<{ readonly connection_status: string | null; readonly observed_at: string | number }>`
        SELECT connection_status, observed_at FROM run_observations WHERE run_id = ${run.run_id} ORDER BY id`
      const rounds = yield* sql<{
        readonly created_at: string | number
        readonly resolved_at: string | number | null
        readonly resolution: string | null
      }>`SELECT created_at, resolved_at, resolution FROM pending_challenges WHERE run_id = ${run.run_id} ORDER BY id`
      lines.push(
        `longest run: ${run.member_guid} ${run.outcome ?? "running"}, ${Number(run.mx_calls)} MX calls, ` +
          `${at(run.started_at)} to ${at(run.ended_at)} (real time from the phase's start)`,
        `  observed ${observed.map((o) => `${o.connection_status ?? "null"} ${at(o.observed_at)}`).join(", ")}`,
        ...rounds.map((r) =>
          `  MFA round stored ${at(r.created_at)}, resolved ${at(r.resolved_at)} (${r.resolution ?? "open"})`
        )
      )
    }
    return lines
  })

/**
 * A fresh database on the server (dropped with the scope), migrated, and this process's client of it.
 * Migrated here so that its "empty" size includes the store's schema, and the replicas start on the
 * schema as they would in production.
 */
const freshDatabase = (adminUrl: string) =>
  Effect.gen(function*() {
    const config = yield* TestDatabase.fresh("pg").pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PG_URL", adminUrl]])))
    )
    const url = config._tag === "Pg" ? config.url : Redacted.make("")
    const context = yield* Layer.build(
      Store.layer.pipe(Layer.provideMerge(Database.layerPg({ url, maxConnections: 2, applicationName: "bench" })))
    )
    return { url: Redacted.value(url), context }
  })

/** The environment of every replica of a phase (ports aside). */
const replicaEnv = (
  flags: ScaleFlags,
  replicas: number,
  sandbox: SandboxProcess.Handle,
  databaseUrl: string
): Record<string, string | undefined> => {
  const origin = Phase.timeOriginOf(sandbox, flags.timeScale)
  return {
    MX_BASE_URL: sandbox.url,
    MX_CLIENT_ID: sandbox.clientId,
    MX_API_KEY: sandbox.apiKey,
    MX_RATE_LIMIT: String(rateLimitPerReplica(flags, replicas)),
    MX_MAX_CONCURRENCY: String(flags.concurrency),
    DATABASE_URL: databaseUrl,
    SQLITE_FILE: undefined,
    WORKER_API_TOKEN: token,
    WORKER_USERS: sandbox.users.map((u) => u.userGuid).join(","),
    WORKER_HOST: "127.0.0.1",
    WORKER_RUNNER_HOST: "127.0.0.1",
    // The replicas of a phase authenticate one another with it.
    WORKER_RUNNER_SECRET: randomBytes(32).toString("hex"),
    WORKER_TIME_SCALE: String(flags.timeScale),
    WORKER_TIME_ORIGIN: origin === undefined ? undefined : String(origin),
    // One scheduler (a cluster singleton) caps the runs of the whole fleet.
    WORKER_MAX_CONCURRENT_RUNS: String(flags.maxRuns * replicas),
    // The benchmark polls the control API often; the per-client limit is for real clients.
    WORKER_API_RATE_LIMIT: "1000000",
    WORKER_LOG_FORMAT: "json",
    WORKER_LOG_LEVEL: "WARN",
    WORKER_METRICS_PORT: undefined,
    WORKER_WEBHOOKS: undefined,
    WORKER_NOTIFY_URL: undefined,
    OTEL_EXPORTER_OTLP_ENDPOINT: undefined
  }
}

const cpuMsOf = (replica: Replicas.Replica) => replica.usage()?.cpuMs ?? null

/**
 * Runs one phase with `replicas` replicas on a fresh database of the PostgreSQL server at `adminUrl`.
 *
 * @since 0.1.0
 * @category phases
 */
export const run = (flags: ScaleFlags, replicas: number, adminUrl: string, logs: Phase.Logs) =>
  Effect.gen(function*() {
    const name = nameOf(replicas)
    const sandbox = yield* Effect.acquireRelease(
      Effect.promise(() => SandboxProcess.start(SandboxProcess.settingsFor(flags, { rateLimit: flags.rateLimit }))),
      (handle) => Effect.promise(() => handle.stop())
    )
    const database = yield* freshDatabase(adminUrl)
    const withDatabase = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | Store.Services>) =>
      Effect.provide(effect, database.context)
    const emptyBytes = yield* withDatabase(databaseSize)
    const mxClock = Phase.mxClockOf(sandbox, flags.timeScale)
    const env = replicaEnv(flags, replicas, sandbox, database.url)

    const sandboxStart = sandbox.usage()
    const postmaster = PostgresUsage.postmasterOf(adminUrl)
    const postgresStart = postmaster === null ? null : PostgresUsage.cpuMs(postmaster)
    const realStart = Date.now()
    const mxStart = mxClock.unsafeCurrentTimeMillis()
    // The database is watched from the start: the first replica works while the next ones start.
    const watch = { last: { done: 0, tracked: 0 } as Completion.Progress, trackedAllAt: null as number | null }
    yield* withDatabase(Completion.progress).pipe(
      Effect.orElseSucceed(() => watch.last),
      Effect.tap((progress) =>
        Effect.sync(() => {
          watch.last = progress
          if (watch.trackedAllAt === null && progress.tracked >= flags.members) watch.trackedAllAt = Date.now()
        })
      ),
      Effect.zipRight(Effect.sleep("250 millis")),
      Effect.forever,
      Effect.forkScoped
    )

    const fleet = yield* Replicas.start(replicas, token, (_, ports) => ({
      ...env,
      WORKER_PORT: String(ports.port),
      WORKER_RUNNER_PORT: String(ports.runnerPort)
    }))
    const fleetReadyMs = Date.now() - realStart
    const cpuAtReady = fleet.map((replica) => replica.startupCpuMs)
    process.stderr.write(`  ${name}: all replicas answer /health after ${(fleetReadyMs / 1000).toFixed(1)} s\n`)
    const answers: Answers = { answered: 0, failed: 0 }
    yield* Effect.forkScoped(withDatabase(answerer(fleet, answers)))

    const deadline = realStart + flags.timeoutSeconds * 1000
    let lastPrinted = { at: Date.now(), cpu: fleet.map(cpuMsOf) }
    while (watch.last.done < flags.members && Date.now() < deadline) {
      yield* Effect.sleep("250 millis")
      if (Date.now() - lastPrinted.at >= 10_000) {
        const now = { at: Date.now(), cpu: fleet.map(cpuMsOf) }
        const shares = now.cpu.map((cpu, i) => {
          const before = lastPrinted.cpu[i]
          return cpu === null || before === null || before === undefined
            ? "-"
            : `${Math.round(((cpu - before) / (now.at - lastPrinted.at)) * 100)}%`
        })
        lastPrinted = now
        process.stderr.write(
          `  ${name}: ${watch.last.done}/${flags.members} done, ${watch.last.tracked} tracked, ` +
            `${((now.at - realStart) / 1000).toFixed(0)} s; CPU per replica ${shares.join(" ")}\n`
        )
      }
    }
    const realEnd = Date.now()
    const mxEnd = mxClock.unsafeCurrentTimeMillis()
    const usages = fleet.map((replica) => replica.usage())
    const sandboxEnd = sandbox.usage()
    const postgresEnd = postmaster === null ? null : PostgresUsage.cpuMs(postmaster)
    const stats = yield* Effect.promise(() => sandbox.stats())
    const loadAverage = loadavg()[0]!
    const timedOut = watch.last.done < flags.members
    const endBytes = yield* withDatabase(databaseSize)
    const tables = yield* withDatabase(largestTables)
    const stuck = timedOut ? yield* withDatabase(Completion.describeStuck) : []
    // Checked after the clock stopped: every member's data is in the store.
    const verified = yield* withDatabase(Completion.verify)
    const overlaps = yield* withDatabase(overlapping(stats))
    const longest = yield* withDatabase(longestRuns(mxStart, flags.timeScale))
    const died = fleet.filter((replica) => replica.exited())
    const perReplicaRate = rateLimitPerReplica(flags, replicas)

    const result: Result = {
      name,
      replicas,
      members: flags.members,
      completed: watch.last.done,
      rateLimitPerReplica: perReplicaRate,
      fleetRateLimit: perReplicaRate * replicas,
      makespanRealMs: realEnd - realStart,
      makespanMxMs: mxEnd - mxStart,
      fleetReadyMs,
      trackedAllMs: watch.trackedAllAt === null ? null : watch.trackedAllAt - realStart,
      stats,
      mfaAnswered: answers.answered,
      answerFailures: answers.failed,
      perReplica: fleet.map((replica, i) => ({
        index: replica.index,
        pid: replica.pid,
        readyAfterMs: replica.readyAfterMs,
        startupCpuMs: cpuAtReady[i]!,
        cpuMs: (usages[i]?.cpuMs ?? cpuAtReady[i]!) - cpuAtReady[i]!,
        peakRssBytes: usages[i]?.peakRssBytes ?? 0,
        exited: replica.exited()
      })),
      sandboxCpuMs: sandboxStart && sandboxEnd ? sandboxEnd.cpuMs - sandboxStart.cpuMs : null,
      postgresCpuMs: postgresStart !== null && postgresEnd !== null ? postgresEnd - postgresStart : null,
      databaseBytes: { empty: emptyBytes, end: endBytes },
      largestTables: tables,
      loadAverage,
      outcomes: verified.outcomes,
      timedOut,
      stuck,
      warnings: [...Replicas.warnings(fleet.map((replica) => replica.output())), ...logs.take()],
      notes: [
        ...Completion.notes(flags.members, verified),
        ...(answers.failed > 0 ? [`MFA answers that failed (each try counted): ${answers.failed}`] : []),
        ...overlaps,
        ...longest,
        ...died.map((replica) =>
          `replica ${replica.index + 1} (pid ${replica.pid}) exited during the phase:\n${
            Replicas.tail(replica.output())
          }`
        )
      ]
    }
    return result
  }).pipe(Effect.scoped)
