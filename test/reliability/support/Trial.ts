/**
 * One trial: an MX sandbox served in this process, members created at MX with a plan each, worker
 * replicas as child processes on SQLite or PostgreSQL, simulated end users answering MFA, and a
 * disruption (`chaos`: kills, a database restart, MX faults, bad webhooks, racing schedulers) while
 * the worker works. Then the trial waits until every member has reached the end the domain
 * prescribes, and measures what MX saw and what the worker stored (`Figures.TrialFigures`).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { type Options, Sandbox } from "@mx-aggregation/mx-sandbox"
import {
  AccountsAndTransactions,
  AggregationRuns,
  Database,
  Outbox,
  PendingChallenges,
  Store,
  TestDatabase,
  TrackedMembers
} from "@mx-aggregation/store"
import { executionIdOf } from "@mx-aggregation/worker/AggregationWorkflow"
import { Context, Duration, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { join } from "node:path"
import * as Harness from "../../worker/support/daemonHarness.js"
import * as EndUser from "./EndUser.js"
import * as Figures from "./Figures.js"
import * as Fleet from "./Fleet.js"
import { knownDefects } from "./KnownDefects.js"
import * as Population from "./Population.js"
import * as Postgres from "./Postgres.js"
import * as Receivers from "./Receivers.js"
import * as Rng from "./Rng.js"

/** Where the replicas keep their state: a SQLite file, a fresh database on the shared PostgreSQL (`PG_URL`), or a PostgreSQL server of the trial's own (which the trial may stop). */
export type StorageKind = "sqlite" | "pg" | "dedicated-pg"

/** A trial. */
export interface Spec {
  readonly scenario: string
  readonly trial: string
  readonly seed: string
  readonly storage: StorageKind
  readonly replicas: number
  /** Cluster runners (PostgreSQL only); otherwise each replica is a single runner. */
  readonly runners: boolean
  readonly timeScale: number
  readonly plans: ReadonlyArray<Population.MemberPlan>
  readonly sandbox?: Partial<Sandbox.ServerOptions> | undefined
  /**
   * Whether the scheduler discovers the members itself (`WORKER_USERS`, the default); otherwise the
   * chaos tracks them (`POST /members`).
   */
  readonly discover?: boolean | undefined
  /** More worker environment. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** How long the members may take to settle after the chaos ended (real time). Default 60 s. */
  readonly settleWithin?: Duration.DurationInput | undefined
  /**
   * How long an active run may go without an MX request before it counts as stuck (real time).
   * Default 5 s: a live run asks MX about its member at least every 30 s of MX time.
   */
  readonly stuckAfter?: Duration.DurationInput | undefined
  /** The end users' pause before answering (real ms). */
  readonly thinkMs?: readonly [number, number] | undefined
  /** A misbehaving partner receiver for the worker's notifications. */
  readonly notifications?: Receivers.ReceiverOptions | undefined
  /** MX webhooks through a duplicating, reordering relay, with forgeries. */
  readonly webhooks?: Receivers.RelayOptions | undefined
  /**
   * What an operator does when runs are stuck (active, but their members left alone at MX) once the
   * chaos is over; the trial then goes on waiting. Default: restart every replica (`restartAll`). The
   * stuck runs are counted either way.
   */
  readonly unstick?: ((context: TrialContext) => Effect.Effect<void, unknown, Scope.Scope>) | undefined
  /**
   * Replicas that must refuse to start (a second process on one SQLite file): each is started after
   * the others and must exit with a message matching `refusal`.
   */
  readonly refused?: { readonly replicas: ReadonlyArray<number>; readonly refusal: RegExp } | undefined
  /** The disruption, run once the replicas are up; the trial then waits for the members to settle. */
  readonly chaos: (context: TrialContext) => Effect.Effect<void, unknown, Scope.Scope>
}

/** What the chaos can reach. */
export interface TrialContext {
  readonly spec: Spec
  readonly rng: Rng.Rng
  readonly fleet: Fleet.Fleet
  readonly members: ReadonlyArray<Population.PlannedMember>
  readonly sandbox: Sandbox.Sandbox["Type"]
  readonly exchanges: Harness.Exchanges
  /** The trial's own PostgreSQL server (`dedicated-pg`). */
  readonly postgres: Postgres.Server | undefined
  /** The webhook relay, when the trial has one. */
  readonly relay: Receivers.Relay | undefined
  /** Notes a line in the trial's timeline (printed when it fails). */
  readonly note: (line: string) => void
  /** Adds to a scenario-specific count (reported in `Figures.extra`). */
  readonly count: (name: string, n?: number) => void
  /** Records a broken rule the chaos itself observed (e.g. /health failing while the database is away). */
  readonly violation: (text: string) => void
}

/** A finished trial. */
export interface Result {
  readonly figures: Figures.TrialFigures
  /** The timeline and, when it failed, every replica's output. */
  readonly report: string
  /** The timeline and every replica's whole output. */
  readonly fullReport: string
}

type StoreServices =
  | TrackedMembers.TrackedMembers
  | AggregationRuns.AggregationRuns
  | PendingChallenges.PendingChallenges
  | AccountsAndTransactions.AccountsAndTransactions
  | Outbox.Outbox

/** Why a member is not (yet) where the domain says it ends, or `undefined` when it is. */
const memberProblem = (
  member: Population.PlannedMember,
  sandbox: Sandbox.Sandbox["Type"]
): Effect.Effect<string | undefined, never, StoreServices> =>
  Effect.gen(function*() {
    const expected = Population.expected(member)
    const tracked = yield* TrackedMembers.TrackedMembers
    const runs = yield* AggregationRuns.AggregationRuns
    const pending = yield* PendingChallenges.PendingChallenges
    const data = yield* AccountsAndTransactions.AccountsAndTransactions
    const stored = yield* tracked.get(member.memberGuid)
    if (Option.isNone(stored)) return "not tracked by the worker"
    const m = stored.value
    if (m.activeRunId !== null) return `a run is active (${m.activeRunId})`
    const history = yield* runs.listByMember(member.memberGuid, { limit: 50 })
    if (history.length === 0) return "never run"
    if (history[0]!.endedAt === null) return `its last run ${history[0]!.runId} has not ended`
    // A run that found nothing to do (a webhook or the user coming back when the data was fresh) ends
    // "skipped": the outcome is the last run's that did something.
    const last = history.find((r) => r.outcome !== "skipped") ?? history[0]!
    if (!expected.outcomes.includes(last.outcome ?? "")) {
      return `last run ended ${last.outcome}${
        last.failureReason === null ? "" : ` (${last.failureReason})`
      }, expected ${expected.outcomes.join(" or ")}`
    }
    if (!expected.statuses.includes(m.status ?? "null")) {
      return `status ${m.status}, expected ${expected.statuses.join(" or ")}`
    }
    const needs = m.needsUser ? m.needsUserReason : null
    if (needs !== expected.needsUser) return `needs user ${needs}, expected ${expected.needsUser}`
    if (Option.isSome(yield* pending.current(member.memberGuid))) return "an MFA challenge is still open"
    const mx = Option.getOrUndefined(yield* sandbox.member(member.memberGuid))
    if (mx === undefined) return "gone from MX"
    if (!expected.statuses.includes(mx.member.connection_status ?? "null")) {
      return `MX says ${mx.member.connection_status}, expected ${expected.statuses.join(" or ")}`
    }
    if (expected.connected) {
      const counts = yield* data.counts(member.memberGuid)
      if (counts.transactions !== mx.transactions) {
        return `${counts.transactions} transactions stored, MX has ${mx.transactions}`
      }
    }
    return undefined
  }).pipe(Effect.catchAll((error) => Effect.succeed(`store error: ${error.message}`)))

/**
 * The sandbox on a free port recording its exchanges, as test/worker/support/daemonHarness.ts's
 * `environment`, but with the HTTP client provided to the sandbox too (it sends webhooks with it).
 */
export const environment = (options: Sandbox.ServerOptions) => {
  const all: Array<Options.Exchange> = []
  const memberOf = (url: string): string | undefined => /\/members\/([^/?]+)/.exec(url)?.[1]
  const exchanges: Harness.Exchanges = {
    all,
    count: (operationId, memberGuid, from = 0) =>
      all.slice(from).filter((e) => e.operationId === operationId && memberOf(e.url) === memberGuid).length
  }
  const layer = Sandbox.layerServer({ ...options, observe: (exchange) => all.push(exchange) }).pipe(
    Layer.provideMerge(NodeHttpClient.layerUndici)
  )
  return { exchanges, layer }
}

/** Restarts every replica, as a supervisor would: an `unstick` for `Spec`. */
export const restartAll = (context: TrialContext) =>
  Effect.gen(function*() {
    for (const replica of context.fleet.replicas) yield* context.fleet.restart(replica.index)
    context.note("every replica restarted to unstick the runs")
  })

/** The figures of a trial that produced none (it failed or hung): every member counted as not settled. */
const failedFigures = (
  spec: Spec,
  options: {
    readonly kills: number
    readonly unexpectedExits: number
    readonly durationMs: number
    readonly extra: Readonly<Record<string, number>>
    readonly violation: string
  }
): Figures.TrialFigures => ({
  scenario: spec.scenario,
  trial: spec.trial,
  kills: options.kills,
  members: spec.plans.length,
  outcomesReached: 0,
  connected: 0,
  transactionsEqual: 0,
  deletes: 0,
  resumesOutsideChallenged: 0,
  aggregatesAfterAutomatic: 0,
  minPollIntervalMs: null,
  maxMemberConcurrency: 0,
  aggregationsStarted: 0,
  aggregationsExpected: spec.plans.reduce((n, m) => n + Population.aggregations(m), 0),
  unexpectedExits: options.unexpectedExits,
  mfaLost: 0,
  stuckRuns: 0,
  failuresNeverRetried: 0,
  conflictingOverlaps: 0,
  durationMs: options.durationMs,
  extra: options.extra,
  violations: [options.violation]
})

/** MX operations that change a member (the others only read it). */
const writes = new Set(["createMember", "updateMember", "deleteMember", "aggregateMember", "resumeAggregation"])

/**
 * Requests for one member in flight at once that do not show two runs at work: reads only (a user's
 * credential update reading the member's credentials while a run reads the member; MX has no rule
 * against concurrent reads, and reads closer than 3 s are counted on their own), or the control API's
 * resume while the run waiting on that round reads the status.
 */
const harmlessOverlap = (operations: ReadonlyArray<string>): boolean =>
  operations.every((operation) => !writes.has(operation)) ||
  (operations.length === 2 && operations.includes("resumeAggregation") && operations.includes("readMemberStatus"))

/** The longest a trial may take, disruption and settling included. */
const trialTimeout = Duration.minutes(10)

/** Runs a trial; never fails (a failure is a result with violations). */
export const run = (spec: Spec): Effect.Effect<Result> => {
  const sandboxOptions: Sandbox.ServerOptions = {
    timeScale: spec.timeScale,
    seed: spec.seed,
    aggregationDuration: "60 seconds",
    delayedDuration: "5 minutes",
    mfaTimeout: "3 hours",
    background: { enabled: false },
    ...spec.sandbox
  }
  const { exchanges, layer } = environment(sandboxOptions)
  /** The statuses MX answered one operation's calls for one member with, in order. */
  const answered = (operationId: string, memberGuid: string) =>
    exchanges.all.filter((e) => e.operationId === operationId && e.url.includes(memberGuid)).map((e) => e.status)
  const timeline: Array<string> = []
  const startedAt = Date.now()
  // RELIABILITY_DEBUG=1 also prints the timeline as it happens (to see where a trial hangs).
  const live = process.env.RELIABILITY_DEBUG !== undefined && process.env.RELIABILITY_DEBUG !== ""
  const note = (line: string) => {
    const entry = `${((Date.now() - startedAt) / 1000).toFixed(2).padStart(7)} s  ${line}`
    timeline.push(entry)
    if (live) console.error(`[${spec.trial}] ${entry}`)
  }
  const extra: Record<string, number> = {}
  const count = (name: string, n = 1) => {
    extra[name] = (extra[name] ?? 0) + n
  }
  let fleetRef: Fleet.Fleet | undefined
  const chaosViolations: Array<string> = []

  const trial = Effect.gen(function*() {
    const rng = Rng.make(`${spec.seed}/${spec.trial}`)
    const sandbox = yield* Sandbox.Sandbox
    // Closing markers (finalizers run last-in first-out): where a teardown that hangs is stuck.
    const closing = (what: string) => Effect.addFinalizer(() => Effect.sync(() => note(`closing: ${what}`)))
    yield* closing("the sandbox and the HTTP client")
    const { members, userGuids } = yield* Population.create(spec.trial, spec.plans)
    note(`${members.length} members: ${members.map((m) => m.label).join(", ")}`)

    // --- storage
    let postgres: Postgres.Server | undefined
    let database: Database.DatabaseConfig
    let storage: Fleet.Storage
    switch (spec.storage) {
      case "sqlite": {
        const dir = yield* Harness.tempDir("mx-reliability-")
        const filename = join(dir, "worker.db")
        database = { _tag: "Sqlite", filename }
        storage = { _tag: "Sqlite", filename }
        break
      }
      case "pg": {
        database = yield* TestDatabase.fresh("pg").pipe(Effect.orDie)
        storage = { _tag: "Pg", url: Redacted.value((database as { readonly url: Redacted.Redacted<string> }).url) }
        break
      }
      case "dedicated-pg": {
        postgres = yield* Postgres.dedicated
        database = { _tag: "Pg", url: Redacted.make(postgres.url) }
        storage = { _tag: "Pg", url: postgres.url }
        break
      }
    }

    yield* closing("the database")

    // --- the outside world
    const receiver = spec.notifications === undefined
      ? undefined
      : yield* Receivers.receiver(rng.fork("receiver"), spec.notifications)
    const relay = spec.webhooks === undefined ? undefined : yield* Receivers.relay(
      rng.fork("relay"),
      spec.webhooks,
      () => {
        const fleet = fleetRef
        return fleet === undefined
          ? []
          : fleet.replicas.filter((r) => fleet.running(r.index)).map((r) => `http://127.0.0.1:${r.webhookPort}`)
      },
      members.map((m) => m.memberGuid)
    )
    if (relay !== undefined) yield* sandbox.setWebhookUrl(relay.url)

    const theFleet = yield* Fleet.make({
      replicas: spec.replicas,
      storage,
      runners: spec.runners,
      timeScale: spec.timeScale,
      users: spec.discover === false ? [] : userGuids,
      // WORKER_API_TOKEN must be at least 32 characters with MX.
      token: `reliability-${spec.scenario}-token-0123456789abcdef0123456789`,
      env: {
        ...(receiver === undefined ? {} : { WORKER_NOTIFY_URL: receiver.url, WORKER_NOTIFY_SECRET: receiver.secret }),
        ...(relay === undefined ? {} : {
          WORKER_WEBHOOKS: "true",
          WORKER_WEBHOOK_USERNAME: Receivers.relayCredentials.username,
          WORKER_WEBHOOK_PASSWORD: Receivers.relayCredentials.password
        }),
        ...spec.env
      }
    })
    fleetRef = theFleet
    yield* closing("the replicas and their proxies")
    const refused = spec.refused?.replicas ?? []
    yield* Effect.forEach(theFleet.replicas.filter((r) => !refused.includes(r.index)), (r) => theFleet.start(r.index), {
      concurrency: knownDefects.concurrentStartOnNewDatabase ? 1 : "unbounded",
      discard: true
    })
    for (const index of refused) {
      const output = yield* theFleet.startRefused(index)
      const refusal = spec.refused!.refusal
      const line = output.split("\n").find((l) => refusal.test(l))
      if (line === undefined) {
        chaosViolations.push(`replica ${index} exited without the expected refusal:\n${Fleet.tail(output)}`)
      } else {
        note(`replica ${index} refused to start: ${line.slice(0, 200)}`)
        count("replicas that refused to start")
      }
    }
    note(`${spec.replicas} replica(s) up on ${spec.storage}`)
    yield* theFleet.watch
    const users = yield* EndUser.start({ fleet: theFleet, members, rng: rng.fork("users"), thinkMs: spec.thinkMs })

    // --- the disruption
    const context: TrialContext = {
      spec,
      rng: rng.fork("chaos"),
      fleet: theFleet,
      members,
      sandbox,
      exchanges,
      postgres,
      relay,
      note,
      count,
      violation: (text) => {
        chaosViolations.push(text)
        note(`violation: ${text}`)
      }
    }
    yield* spec.chaos(context).pipe(
      Effect.catchAllCause((cause) => Effect.sync(() => context.violation(`the disruption itself failed: ${cause}`)))
    )
    note("chaos over; waiting for every member to settle")

    // --- settle: every member where the domain says it ends (and every notification delivered)
    const store = yield* Layer.build(Store.layer.pipe(Layer.provideMerge(Database.layerFrom(database)))).pipe(
      Effect.orDie
    )
    yield* closing("the store")
    const check = Effect.gen(function*() {
      const problems: Array<{ readonly member: Population.PlannedMember | undefined; readonly problem: string }> = []
      for (const member of members) {
        const problem = yield* memberProblem(member, sandbox)
        if (problem !== undefined) problems.push({ member, problem })
      }
      if (receiver !== undefined) {
        const outbox = yield* Outbox.Outbox
        const waiting = yield* outbox.undelivered().pipe(Effect.orElseSucceed(() => [{}]))
        if (waiting.length > 0) {
          problems.push({ member: undefined, problem: `${waiting.length} notification(s) not delivered yet` })
        }
      }
      return problems
    }).pipe(Effect.provide(store))
    // A run is stuck when it is active but its member has not been asked about at MX for a while: a live
    // run polls at least every 30 s of MX time (status polls, or the MFA wait's checks).
    const lastAskedAt = (member: Population.PlannedMember) =>
      Math.max(0, ...theFleet.replicas.map((r) => r.proxy.lastRequestAt(member.memberGuid) ?? 0))
    const stuckAfterMs = Duration.toMillis(Duration.decode(spec.stuckAfter ?? "5 seconds"))
    let quietSince = Date.now()
    let stuckRuns = 0
    let stuckRounds = 0
    const failedRuns = new Set<string>()
    // Failed runs after which the worker scheduled nothing: the member's user comes back (a known defect).
    const retryFailures = Effect.gen(function*() {
      const tracked = yield* TrackedMembers.TrackedMembers
      const runs = yield* AggregationRuns.AggregationRuns
      for (const member of members) {
        const stored = Option.getOrUndefined(yield* tracked.get(member.memberGuid))
        if (stored === undefined || stored.activeRunId !== null || stored.nextDueAt !== null) continue
        const [last] = yield* runs.listByMember(member.memberGuid, { limit: 1 })
        if (last?.outcome !== "failed" || failedRuns.has(last.runId)) continue
        failedRuns.add(last.runId)
        note(`${member.label}: run failed (${last.failureReason}) and nothing is scheduled`)
        if (knownDefects.failedRunsNeverRetried) {
          yield* theFleet.anyApi().members.userPresent({ path: { userGuid: member.userGuid } }).pipe(Effect.ignore)
          note(`${member.label}: its user came back`)
        }
      }
    }).pipe(Effect.catchAll(() => Effect.void), Effect.provide(store))
    let problems = yield* check
    const settleWithin = process.env.RELIABILITY_SETTLE_WITHIN ?? spec.settleWithin ?? "60 seconds"
    const deadline = Date.now() + Duration.toMillis(Duration.decode(settleWithin as Duration.DurationInput))
    while (problems.length > 0 && Date.now() < deadline) {
      yield* Effect.sleep("250 millis")
      yield* retryFailures
      problems = yield* check
      const now = Date.now()
      const stuck = problems.filter(({ member, problem }) =>
        member !== undefined && problem.startsWith("a run is active") && now - lastAskedAt(member) > stuckAfterMs
      )
      if (
        stuck.length > 0 && stuck.length === problems.length && now - quietSince > stuckAfterMs && stuckRounds++ < 3
      ) {
        stuckRuns += stuck.length
        for (const { member } of stuck) {
          note(`stuck: ${member!.label}: no MX request for ${((now - lastAskedAt(member!)) / 1000).toFixed(1)} s`)
          note(yield* diagnose(member!).pipe(Effect.provide(store)))
        }
        yield* (spec.unstick ?? restartAll)(context).pipe(
          Effect.catchAllCause((cause) => Effect.sync(() => note(`unstick failed: ${cause}`)))
        )
        quietSince = Date.now()
      }
    }
    note(
      problems.length === 0
        ? "settled"
        : `not settled:\n    ${
          problems.map(({ member, problem }) =>
            member === undefined ? problem : `${member.label} (${member.memberGuid}): ${problem}`
          ).join("\n    ")
        }`
    )
    for (const { member } of problems) {
      if (member !== undefined) note(yield* diagnose(member).pipe(Effect.provide(store)))
    }

    // --- figures
    const stats = yield* sandbox.stats
    const unsettled = new Set(problems.flatMap(({ member }) => member === undefined ? [] : [member.label]))
    const connected = members.filter((m) => Population.expected(m).connected)
    let transactionsEqual = 0
    for (const member of connected) {
      const mx = Option.getOrUndefined(yield* sandbox.member(member.memberGuid))
      const counts = yield* Effect.provide(
        Effect.flatMap(AccountsAndTransactions.AccountsAndTransactions, (d) => d.counts(member.memberGuid)),
        store
      ).pipe(Effect.orElseSucceed(() => ({ transactions: -1, accounts: -1 })))
      if (mx !== undefined && counts.transactions === mx.transactions && mx.transactions > 0) transactionsEqual++
    }
    // MFA: every round the worker recorded was answered (or moved on at MX after an answer), or the member
    // ended needing its user present; none is left open.
    let mfaLost = 0
    const pendingStore = Context.get(store, PendingChallenges.PendingChallenges)
    for (const member of members.filter(Population.isMfa)) {
      const rounds = yield* pendingStore.listByMember(member.memberGuid).pipe(Effect.orElseSucceed(() => []))
      const open = rounds.filter((r) => r.resolution === null).length
      const expired = rounds.filter((r) => r.resolution === "expired").length
      const endsNeedingUser = Population.expected(member).needsUser === "presence"
      if (open > 0 || unsettled.has(member.label) || rounds.length === 0 || (expired > 0 && !endsNeedingUser)) {
        mfaLost++
        note(
          `MFA lost: ${member.label}: rounds ${rounds.map((r) => r.resolution ?? "open").join(", ")}; ` +
            `the user answered ${users.roundsAnswered(member.memberGuid)}`
        )
      }
    }
    for (const refused of users.refused()) note(`answer refused: ${refused}`)
    extra["answer resubmissions"] = users.resubmissions()
    const runsStore = Context.get(store, AggregationRuns.AggregationRuns)
    for (const member of members) {
      const list = yield* runsStore.listByMember(member.memberGuid).pipe(Effect.orElseSucceed(() => []))
      extra["runs"] = (extra["runs"] ?? 0) + list.length
      for (const run of list) extra[`runs (${run.reason})`] = (extra[`runs (${run.reason})`] ?? 0) + 1
    }
    if (receiver !== undefined) {
      const failed = receiver.received.filter((r) => r.status !== 200).length
      extra["notifications received"] = receiver.received.length
      extra["notifications failed on purpose"] = failed
      extra["notifications unsigned"] = receiver.received.filter((r) => !r.signed).length
    }
    if (relay !== undefined) {
      for (const [name, value] of Object.entries(relay.counts())) extra[`webhooks ${name}`] = value
    }
    const base = {
      scenario: spec.scenario,
      trial: spec.trial,
      kills: theFleet.kills(),
      members: members.length,
      outcomesReached: members.length - unsettled.size,
      connected: connected.length,
      transactionsEqual,
      deletes: stats.deletes.members + stats.deletes.users,
      resumesOutsideChallenged: stats.resumesOutsideChallenged,
      aggregatesAfterAutomatic: stats.aggregatesAfterAutomatic,
      minPollIntervalMs: stats.minPollIntervalMs,
      maxMemberConcurrency: Math.max(0, ...Object.values(stats.peakConcurrencyByMember)),
      aggregationsStarted: stats.aggregationsStarted,
      aggregationsExpected: members.reduce((n, m) => n + Population.aggregations(m), 0),
      unexpectedExits: theFleet.unexpectedExits().length,
      mfaLost,
      stuckRuns,
      failuresNeverRetried: failedRuns.size,
      conflictingOverlaps: theFleet.inFlight.overlaps().filter(({ operations }) => !harmlessOverlap(operations))
        .length,
      durationMs: Date.now() - startedAt,
      extra
    }
    const violations = [...Figures.ruleViolations(base), ...chaosViolations]
    if (base.aggregationsStarted !== base.aggregationsExpected) {
      note(`MX's aggregations by origin: ${JSON.stringify(stats.aggregationsByOrigin)}`)
      for (const member of members) {
        const calls = answered("aggregateMember", member.memberGuid)
        const state = Option.getOrUndefined(yield* sandbox.member(member.memberGuid))
        note(
          `${member.label}: aggregate calls answered ${calls.join(", ") || "-"}; ` +
            `${state?.successfulAggregations ?? "?"} successful aggregation(s) at MX`
        )
      }
    }
    if (receiver !== undefined) {
      violations.push(...notificationViolations(receiver, yield* Effect.provide(allEvents(members), store)))
    }
    if (relay !== undefined && relay.counts().serverErrors > 0) {
      violations.push(`${relay.counts().serverErrors} webhook(s) answered with a 5xx`)
    }
    if (relay !== undefined && relay.counts().unauthenticatedAccepted > 0) {
      violations.push(`${relay.counts().unauthenticatedAccepted} webhook(s) without credentials were not refused (401)`)
    }
    for (const exit of theFleet.unexpectedExits()) {
      note(exit)
    }
    const labels = new Map(members.map((m) => [m.memberGuid as string, m.label]))
    if (stats.resumesOutsideChallenged > 0) {
      for (const member of members) {
        const resumes = answered("resumeAggregation", member.memberGuid)
        if (resumes.length > 0) note(`${member.label}: MX answered its resumes ${resumes.join(", ")}`)
      }
    }
    if (stats.minPollIntervalMs !== null && stats.minPollIntervalMs < 3_000) {
      for (const line of theFleet.inFlight.closeReads(3_000 / spec.timeScale)) {
        const guid = line.slice(0, line.indexOf(":"))
        note(`reads closer than 3 s of MX time: ${labels.get(guid) ?? guid}${line.slice(guid.length)}`)
      }
    }
    for (const { memberGuid, operations } of theFleet.inFlight.overlaps()) {
      note(`requests overlapped for ${labels.get(memberGuid) ?? memberGuid}: ${operations.join(" + ")}`)
    }
    return { ...base, violations } satisfies Figures.TrialFigures
  })

  return Effect.gen(function*() {
    const scope = yield* Scope.make()
    // The sandbox goes into the trial's scope first, so that it closes last: the replicas are killed
    // before it (a server closing under replicas that keep calling it would wait for them forever).
    const exit = yield* Layer.buildWithScope(layer, scope).pipe(
      Effect.flatMap((environment) => Effect.provide(trial, environment)),
      Scope.extend(scope),
      Effect.timeoutFail({
        duration: trialTimeout,
        onTimeout: () => new Error(`the trial took longer than ${Duration.format(trialTimeout)}`)
      }),
      Effect.exit
    )
    note(`trial over (${Exit.isSuccess(exit) ? "completed" : "failed"}); closing its resources`)
    if (fleetRef !== undefined) yield* fleetRef.stopWatching
    // Finalizers cannot be interrupted: one that hangs is left behind after a minute.
    yield* Scope.close(scope, Exit.void).pipe(Effect.disconnect, Effect.timeout("60 seconds"), Effect.ignore)
    note("resources closed")
    const figures: Figures.TrialFigures = Exit.isSuccess(exit) ? exit.value : failedFigures(spec, {
      kills: fleetRef?.kills() ?? 0,
      unexpectedExits: fleetRef?.unexpectedExits().length ?? 0,
      durationMs: Date.now() - startedAt,
      extra,
      violation: `the trial itself failed: ${String(exit.cause)}`
    })
    const failed = figures.violations.length > 0
    const report = [
      `=== ${spec.scenario} / ${spec.trial} (seed ${spec.seed}): ${failed ? "FAILED" : "ok"}`,
      ...figures.violations.map((v) => `  violation: ${v}`),
      ...timeline.map((line) => `  ${line}`),
      ...(failed && fleetRef !== undefined ? [fleetRef.logs()] : [])
    ].join("\n")
    const fullReport = [
      `=== ${spec.scenario} / ${spec.trial} (seed ${spec.seed}): ${failed ? "FAILED" : "ok"}`,
      ...figures.violations.map((v) => `  violation: ${v}`),
      ...timeline.map((line) => `  ${line}`),
      ...(fleetRef === undefined ? [] : [fleetRef.rawLogs()])
    ].join("\n")
    return { figures, report, fullReport }
  }).pipe(
    // A trial stuck where interruption cannot reach (a finalizer waiting forever) must not stop the run:
    // after the guard's delay it is left behind and reported as hung.
    Effect.disconnect,
    Effect.timeoutTo({
      duration: Duration.sum(trialTimeout, Duration.minutes(2)),
      onSuccess: (result): Result => result,
      onTimeout: (): Result => {
        const violation = `the trial hung (no result after ${
          Duration.format(Duration.sum(trialTimeout, Duration.minutes(2)))
        })`
        const report = [`=== ${spec.scenario} / ${spec.trial} (seed ${spec.seed}): HUNG`, ...timeline].join("\n")
        return {
          figures: failedFigures(spec, {
            kills: fleetRef?.kills() ?? 0,
            unexpectedExits: fleetRef?.unexpectedExits().length ?? 0,
            durationMs: Date.now() - startedAt,
            extra,
            violation
          }),
          report,
          fullReport: report
        }
      }
    })
  )
}

/**
 * What the worker's database says about a member that did not settle: its runs with their
 * observations, and the workflow engine's messages and replies for its active run.
 */
const diagnose = (member: Population.PlannedMember) =>
  Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const runs = yield* AggregationRuns.AggregationRuns
    const sql = yield* SqlClient.SqlClient
    const lines: Array<string> = [`diagnosis of ${member.label} (${member.memberGuid}):`]
    const stored = Option.getOrUndefined(yield* tracked.get(member.memberGuid))
    lines.push(
      `  tracked: status ${stored?.status}, active run ${stored?.activeRunId}, needs ${stored?.needsUserReason}, ` +
        `next due ${stored?.nextDueAt ?? "never"}, failures in a row ${stored?.consecutiveFailures}`
    )
    for (const run of yield* runs.listByMember(member.memberGuid)) {
      const detail = Option.getOrUndefined(yield* runs.get(run.runId))
      lines.push(
        `  run ${run.runId} (${run.reason}): ended ${run.endedAt}, outcome ${run.outcome}, ${
          run.failureReason ?? ""
        }; ` +
          `observed ${detail?.observations.map((o) => o.status).join(" > ")}`
      )
    }
    if (stored?.activeRunId != null) {
      const executionId = yield* executionIdOf(stored.activeRunId)
      const runners = yield* sql<
        { readonly address: string; readonly healthy: unknown; readonly last_heartbeat: unknown }
      >`
        SELECT address, healthy, last_heartbeat FROM cluster_runners`.pipe(Effect.orElseSucceed(() => []))
      lines.push(
        `  runners: ${runners.map((r) => `${r.address} healthy ${r.healthy} heartbeat ${r.last_heartbeat}`).join("; ")}`
      )
      const messages = yield* sql<{
        readonly id: string
        readonly shard_id: string
        readonly tag: string | null
        readonly kind: number
        readonly processed: boolean | number
        readonly deliver_at: string | null
        readonly payload: string | null
      }>`SELECT id, shard_id, tag, kind, processed, deliver_at, payload FROM cluster_messages
        WHERE entity_id = ${executionId} ORDER BY id`
      for (const m of messages) {
        lines.push(
          `  message ${m.id} shard ${m.shard_id} ${m.tag ?? ""} kind ${m.kind} processed ${m.processed} ` +
            `deliver_at ${m.deliver_at} ` +
            `${(m.payload ?? "").slice(0, 160)}`
        )
      }
      const replies = yield* sql<
        { readonly request_id: string; readonly kind: number; readonly payload: string | null }
      >`
        SELECT request_id, kind, payload FROM cluster_replies
        WHERE request_id IN (SELECT id FROM cluster_messages WHERE entity_id = ${executionId}) ORDER BY id`
      for (const r of replies) {
        lines.push(`  reply to ${r.request_id} kind ${r.kind} ${(r.payload ?? "").slice(0, 200)}`)
      }
    }
    return lines.join("\n    ")
  }).pipe(Effect.catchAllCause((cause) => Effect.succeed(`diagnosis of ${member.label} failed: ${String(cause)}`)))

const allEvents = (members: ReadonlyArray<Population.PlannedMember>) =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    const events = new Map<string, ReadonlyArray<number>>()
    for (const member of members) {
      const list = yield* outbox.listRecent({ memberGuid: member.memberGuid, limit: 1000 }).pipe(
        Effect.orElseSucceed(() => [])
      )
      events.set(member.memberGuid, list.map((e) => e.id as number).sort((a, b) => a - b))
    }
    return events
  })

/** Each member's events reached the receiver at least once, first acceptances in outbox order, all signed. */
const notificationViolations = (
  receiver: Receivers.Receiver,
  events: ReadonlyMap<string, ReadonlyArray<number>>
): Array<string> => {
  const out: Array<string> = []
  for (const [memberGuid, ids] of events) {
    const accepted: Array<number> = []
    for (const r of receiver.received) {
      if (r.memberGuid === memberGuid && r.status === 200 && !accepted.includes(r.id)) accepted.push(r.id)
    }
    if (accepted.join(",") !== ids.join(",")) {
      out.push(`notifications of ${memberGuid}: accepted ${accepted.join(",")}, outbox ${ids.join(",")}`)
    }
  }
  const unsigned = receiver.received.filter((r) => !r.signed).length
  if (unsigned > 0) out.push(`${unsigned} notification(s) without a valid signature`)
  return out
}
