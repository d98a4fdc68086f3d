/**
 * Metrics and secrets, end to end: the worker and the time-scaled sandbox in one process (as in
 * `harness.ts`), with the MX calls the worker's client records (`@mx-aggregation/mx-api`'s `CallMetrics`), the
 * Prometheus endpoint on a port of its own with the store's backlog gauges, an in-memory span
 * recorder and the JSON logger captured.
 *
 * - Metrics: the Prometheus text parses, and the MX calls it counts by operation and status, its
 *   429s and its retries equal what the sandbox counted for the same scenario.
 * - Secrets: after a scenario with a credential update, an MFA answer, the API key and the control
 *   token in use, no captured log line, Prometheus text, span, database table or outbox event
 *   contains any of them.
 *
 * Effect's metric registry is global to the process: the tests compare values before and after.
 */
import { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { ConnectionStatus, Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox, type Stats } from "@mx-aggregation/mx-sandbox"
import { Outbox, TestDatabase, TrackedMembers } from "@mx-aggregation/store"
import {
  Aggregations,
  EngineConfig,
  Logging,
  MetricsEndpoint,
  Observability,
  StoreGauges,
  Worker
} from "@mx-aggregation/worker"
import { PrometheusText, SpanRecorder } from "@mx-aggregation/worker/testing"
import { Chunk, Console, Duration, Effect, Either, Layer, Logger, LogLevel, Redacted, Stream } from "effect"
import { format } from "node:util"
import { controlClient, ended, newMember, pendingChallenge, timeScale, token } from "./harness.js"

/** What the observed worker captured. */
interface Captured {
  readonly logs: Array<string>
  readonly recorder: SpanRecorder.SpanRecorder
}

const mxApiKey = Redacted.make("mx-api-key-3f9a71c2e5d8")
const mxClientId = "metrics-client-id"

/** Every line printed through the Console service (the JSON logger prints there). */
const capturingConsole = (lines: Array<string>): Console.Console => {
  const push = (...args: ReadonlyArray<unknown>) => {
    lines.push(format(...args))
  }
  const unsafe = { ...globalThis.console, log: push, info: push, warn: push, error: push, debug: push, trace: push }
  return {
    ...Effect.runSync(Effect.console),
    unsafe,
    log: (...args: ReadonlyArray<unknown>) => Effect.sync(() => push(...args))
  } as Console.Console
}

/**
 * Sandbox + worker (engine and control API, no scheduler) as in `harness.ts`, plus observability:
 * the MxClient (which records its calls), a metrics server and the store gauges, spans in
 * memory, logs in JSON at every level into `captured.logs`.
 */
const observedHarness = (captured: Captured, sandboxOptions: Partial<Sandbox.ServerOptions> = {}) => {
  const sandbox = Sandbox.layerServer({
    port: 0,
    timeScale,
    seed: "metrics",
    aggregationDuration: "30 seconds",
    delayedDuration: "3 minutes",
    mfaTimeout: "2 hours",
    clientId: mxClientId,
    apiKey: mxApiKey,
    ...sandboxOptions
  })
  const app = Layer.unwrapEffect(Effect.gen(function*() {
    const { url } = yield* Sandbox.SandboxServer
    const mx = yield* Sandbox.Sandbox
    const now = yield* mx.now
    // A window a loaded machine's answers still meet (4 minutes of MX time would be 2.4 s here).
    const engine = EngineConfig.layer({ timeScale, mxAnchor: now.getTime(), mfaTimeout: Duration.hours(1) })
    const mxClient = MxClient.layer({
      baseUrl: url,
      clientId: mx.credentials.clientId,
      apiKey: mx.credentials.apiKey,
      requestsPerSecond: 200,
      maxConcurrency: 20
    })
    const worker = Worker.layer({ users: [], api: { token, port: 0, host: "127.0.0.1" }, scheduler: false })
    return Layer.mergeAll(
      MetricsEndpoint.layerMetricsServer({ port: 0, host: "127.0.0.1" }),
      StoreGauges.layer
    ).pipe(
      Layer.provideMerge(worker),
      Layer.provideMerge(mxClient),
      Layer.provideMerge(engine),
      Layer.provideMerge(TestDatabase.layer("sqlite"))
    )
  }))
  return app.pipe(
    Layer.provideMerge(sandbox),
    Layer.provideMerge(NodeHttpClient.layerUndici),
    Layer.provideMerge(Observability.layer({ spanProcessors: [captured.recorder.processor] })),
    Layer.provideMerge(Layer.mergeAll(
      Logging.loggerLayer("json"),
      Console.setConsole(capturingConsole(captured.logs)),
      Logger.minimumLogLevel(LogLevel.All)
    ))
  )
}

/** GET /metrics from the metrics server, parsed (the test fails on malformed text). */
const scrape = Effect.gen(function*() {
  const { url } = yield* MetricsEndpoint.MetricsServer
  const response = yield* HttpClient.get(`${url}/metrics`)
  assert.strictEqual(response.status, 200)
  const text = yield* response.text
  const parsed = PrometheusText.parse(text)
  if (Either.isLeft(parsed)) return assert.fail(`malformed Prometheus text: ${parsed.left.message}\n${text}`)
  return { text, exposition: parsed.right }
})

/** The MX request counters by operation and by status, from a scrape. */
const mxCounts = Effect.map(scrape, ({ exposition }) => {
  const byOperation: Record<string, number> = {}
  const byStatus: Record<string, number> = {}
  for (const sample of exposition.samples) {
    if (sample.name !== "mx_api_requests_total") continue
    const operation = sample.labels["operation"]!
    const status = sample.labels["status"]!
    byOperation[operation] = (byOperation[operation] ?? 0) + sample.value
    byStatus[status] = (byStatus[status] ?? 0) + sample.value
  }
  return {
    byOperation,
    byStatus,
    rateLimited: PrometheusText.sumOf(exposition, "mx_api_rate_limited_total"),
    retries: PrometheusText.sumOf(exposition, "mx_api_retries_total")
  }
})

const difference = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([key, value]) => [key, value - (before[key] ?? 0)] as const)
      .filter(([, value]) => value !== 0)
  )

/** A new MX Bank member with `password`, run by the worker until its run ends. */
const runMember = (password: string, answer?: string) =>
  Effect.gen(function*() {
    const aggregations = yield* Aggregations.Aggregations
    const member = yield* newMember(password)
    const started = yield* aggregations.start(member.memberGuid, "Scheduled")
    assert.strictEqual(started._tag, "Started")
    const runId = started._tag === "Started" ? started.runId : undefined!
    if (answer !== undefined) yield* answerChallenge(member.memberGuid, answer)
    const { run } = yield* ended(runId)
    return { ...member, outcome: run.outcome }
  })

/** Answers the member's pending challenge through the control API (an option by its value). */
const answerChallenge = (memberGuid: Member.MemberGuid, value: string) =>
  Effect.gen(function*() {
    const pending = yield* pendingChallenge(memberGuid)
    const client = yield* controlClient
    const challenge = pending.challenges[0]!
    const options = challenge.type === "OPTIONS" ? challenge.options : challenge.image_options
    const chosen = options.find((o) => o.value === value)?.value ?? value
    yield* client.members.answer({
      path: { memberGuid },
      payload: { answers: [new Member.CredentialValue({ guid: challenge.guid, value: Redacted.make(chosen) })] }
    })
  })

/**
 * The sandbox's counters and the worker's metrics of MX calls agree: the same requests per operation;
 * the same answers per status, except attempts the client stopped waiting for (its request timeout:
 * 30 s of MX time, 0.3 s here), which it counts as `interrupted` while the sandbox counted its answer.
 * Returns the worker's attempts that failed (429, 5xx, no answer, interrupted).
 */
const assertMxCallsMatch = (
  before: Effect.Effect.Success<typeof mxCounts>,
  after: Effect.Effect.Success<typeof mxCounts>,
  stats: Stats.Stats
) => {
  const sandboxOperations = Object.fromEntries(
    Object.entries(stats.byOperation).filter(([operation]) => !operation.startsWith("sandbox."))
  )
  const operations = difference(after.byOperation, before.byOperation)
  assert.deepStrictEqual(operations, sandboxOperations, JSON.stringify({ metrics: operations, sandbox: stats }))
  const { error = 0, interrupted = 0, ...statuses } = difference(after.byStatus, before.byStatus)
  assert.strictEqual(error, 0, "every request reached the sandbox")
  let unseen = 0
  for (const [status, count] of Object.entries(stats.byStatus)) {
    const seen = statuses[status] ?? 0
    assert.isAtMost(seen, count, `status ${status}`)
    unseen += count - seen
  }
  assert.strictEqual(unseen, interrupted, JSON.stringify({ metrics: statuses, interrupted, sandbox: stats.byStatus }))
  const limited = after.rateLimited - before.rateLimited
  assert.strictEqual(limited, statuses["429"] ?? 0)
  assert.isAtMost(limited, stats.rateLimited)
  const failed = Object.entries(statuses).filter(([status]) => Number(status) >= 400)
    .reduce((n, [, count]) => n + count, interrupted)
  return failed
}

describe("metrics against the sandbox's counters", () => {
  const captured: Captured = { logs: [], recorder: SpanRecorder.make() }

  layer(observedHarness(captured), { excludeTestServices: true })((it) => {
    it.effect("MX calls by operation and status equal the sandbox's counts", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.resetStats
        const before = yield* mxCounts
        const results = yield* Effect.all([
          runMember("password"),
          runMember("options", "correct"),
          runMember("challenge", "correct"),
          runMember("UNAUTHORIZED")
        ], { concurrency: "unbounded" })
        assert.deepStrictEqual(results.map((r) => r.outcome), [
          "connected",
          "connected",
          "connected",
          "credentials_required"
        ])
        const after = yield* mxCounts
        const stats = yield* sandbox.stats
        // The scenario made the calls that matter, and the metrics saw each of them.
        assert.isAtLeast(stats.byOperation["readMemberStatus"] ?? 0, 4)
        assert.strictEqual(stats.byOperation["resumeAggregation"], 2)
        assert.isAbove(stats.byOperation["listTransactionsByMember"] ?? 0, 0)
        const failed = assertMxCallsMatch(before, after, stats)
        assert.strictEqual(after.retries - before.retries, failed, "failed attempts and only those were retried")
      }))

    it.effect("under MX's rate limit: 429s and retries equal the sandbox's 429s", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.resetStats
        const before = yield* mxCounts
        yield* sandbox.setFaults({ rateLimit: { requestsPerSecond: 100, burst: 1 } })
        const results = yield* Effect.all(
          ["password", "password", "password", "password"].map((password) => runMember(password)),
          { concurrency: "unbounded" }
        ).pipe(Effect.ensuring(sandbox.setFaults({})))
        assert.deepStrictEqual(results.map((r) => r.outcome), ["connected", "connected", "connected", "connected"])
        const after = yield* mxCounts
        const stats = yield* sandbox.stats
        assert.isAbove(stats.rateLimited, 0, "the sandbox answered 429 at least once")
        const failed = assertMxCallsMatch(before, after, stats)
        assert.isAbove(after.rateLimited - before.rateLimited, 0, "the worker counted 429s")
        // Every run succeeded, so each failed attempt (429 above all) was followed by a retry.
        assert.strictEqual(after.retries - before.retries, failed)
      }))

    it.effect("runs started and settled, MFA waits, polls and run durations follow the scenario", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.resetStats
        const deniedClass = ConnectionStatus.classify("DENIED")
        const read = Effect.map(scrape, ({ exposition }) => {
          const sum = (name: string, labels: Record<string, string> = {}) =>
            PrometheusText.sumOf(exposition, name, labels)
          return {
            started: sum("mx_aggregation_runs_started_total", { trigger: "Scheduled" }),
            connected: sum("mx_aggregation_runs_settled_total", { outcome: "connected", status_class: "Connected" }),
            denied: sum("mx_aggregation_runs_settled_total", {
              outcome: "credentials_required",
              status_class: deniedClass
            }),
            durations: sum("mx_aggregation_run_duration_seconds_count", { outcome: "connected" }),
            waits: sum("mx_aggregation_mfa_waits_total", { result: "started" }),
            answered: sum("mx_aggregation_mfa_waits_total", { result: "answered" }),
            answeredWaits: sum("mx_aggregation_mfa_wait_seconds_count", { result: "answered" }),
            polls: sum("mx_aggregation_status_polls_total"),
            rounds: sum("mx_aggregation_polls_per_round_count")
          }
        })
        const before = yield* read
        yield* Effect.all([
          runMember("password"),
          runMember("options", "correct"),
          runMember("challenge", "correct"),
          runMember("UNAUTHORIZED")
        ], { concurrency: "unbounded" })
        const after = yield* read
        const stats = yield* sandbox.stats
        const delta = Object.fromEntries(
          Object.entries(after).map(([key, value]) => [key, value - before[key as keyof typeof before]])
        )
        const { polls, rounds, ...counts } = delta
        assert.deepStrictEqual(counts, {
          started: 4,
          connected: 3,
          denied: 1,
          durations: 3,
          waits: 2,
          answered: 2,
          answeredWaits: 2
        })
        // One polling round per aggregation and one after each MFA answer; every poll is a status read.
        assert.strictEqual(rounds, 6)
        assert.isAtLeast(polls!, rounds!)
        assert.isAtMost(polls!, stats.byOperation["readMemberStatus"] ?? 0)
      }))

    it.effect("the backlog gauges follow the store", () =>
      Effect.gen(function*() {
        const tracked = yield* TrackedMembers.TrackedMembers
        const { exposition } = yield* scrape
        assert.strictEqual(exposition.types.get("mx_aggregation_runs_active"), "gauge")
        assert.strictEqual(PrometheusText.sumOf(exposition, "mx_aggregation_runs_active"), 0)
        const members = yield* tracked.list({ tracked: "all" })
        assert.isAbove(members.length, 0)
        for (const statusClass of ConnectionStatus.StatusClass.literals) {
          assert.strictEqual(
            PrometheusText.sumOf(exposition, "mx_aggregation_members", { status_class: statusClass }),
            members.filter((m) => m.status !== null && ConnectionStatus.classify(m.status) === statusClass).length,
            statusClass
          )
        }
        assert.strictEqual(PrometheusText.sumOf(exposition, "mx_aggregation_challenges_pending"), 0)
      }))
  })
})

/** Every row of every table of the worker's SQLite database, as text (blobs decoded as UTF-8). */
const databaseDump = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tables = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
  const dump: Array<string> = []
  for (const { name } of tables) {
    const rows = yield* sql.unsafe<Record<string, unknown>>(`SELECT * FROM "${name.replaceAll("\"", "\"\"")}"`)
    for (const row of rows) {
      dump.push(
        `${name}: ${
          JSON.stringify(row, (_, value) =>
            value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : typeof value === "bigint"
              ? String(value)
              : value)
        }`
      )
    }
  }
  return { tables: tables.map((t) => t.name), dump: dump.join("\n") }
})

describe("secrets", () => {
  const captured: Captured = { logs: [], recorder: SpanRecorder.make() }
  const newPassword = "pw-Credential-8d41c07b"
  const mfaAnswer = "mfa-answer-Q2w9e7r5"

  layer(observedHarness(captured, { seed: "secrets" }), { excludeTestServices: true })((it) => {
    it.effect("logs, metrics, traces, the database and the outbox hold no API key, credential, MFA answer or token", () =>
      Effect.gen(function*() {
        const mx = yield* MxClient.MxClient
        const aggregations = yield* Aggregations.Aggregations

        // A DENIED member gets new credentials (through the worker's MX client), and MX's own
        // aggregation after the update connects it.
        const denied = yield* runMember("UNAUTHORIZED")
        assert.strictEqual(denied.outcome, "credentials_required")
        const fields = Chunk.toReadonlyArray(
          yield* Stream.runCollect(
            mx.listMemberCredentials({ userGuid: denied.userGuid, memberGuid: denied.memberGuid })
          )
        )
        yield* mx.updateMember({
          userGuid: denied.userGuid,
          memberGuid: denied.memberGuid,
          credentials: fields.map((field) =>
            new Member.CredentialValue({
              guid: field.guid,
              value: Redacted.make(
                field.field_type === "PASSWORD" || field.field_name === "password" ? newPassword : "mxuser"
              )
            })
          )
        })
        const rerun = yield* aggregations.start(denied.memberGuid, "CredentialsUpdated", {
          credentialUpdateStartedAggregation: true
        })
        assert.strictEqual(rerun._tag, "Started")
        const { run } = yield* ended(rerun._tag === "Started" ? rerun.runId : undefined!)
        assert.strictEqual(run.outcome, "connected", "the new password was used at MX")

        // An MFA answer through the control API (not `correct`: MX Bank rejects it).
        const challenged = yield* runMember("challenge", mfaAnswer)
        assert.notStrictEqual(challenged.outcome, "connected", "MX rejected the answer")

        const { text: prometheus } = yield* scrape
        const spans = JSON.stringify(
          captured.recorder.spans().map((span) => ({
            name: span.name,
            attributes: span.attributes,
            events: span.events,
            status: span.status,
            links: span.links,
            resource: span.resource.attributes
          }))
        )
        const { dump, tables } = yield* databaseDump
        const outbox = JSON.stringify(yield* Effect.flatMap(Outbox.Outbox, (o) => o.listRecent({ limit: 1000 })))
        const logs = captured.logs.join("\n")

        // What was captured covers the scenario (otherwise the scan below proves nothing).
        assert.include(logs, challenged.memberGuid, "logs carry member guids")
        assert.include(spans, "MxClient.updateMember")
        assert.include(spans, "MxClient.resumeAggregation")
        assert.include(spans, "AggregationWorkflow")
        assert.include(prometheus, "operation=\"resumeAggregation\"")
        assert.include(prometheus, "operation=\"updateMember\"")
        assert.includeMembers(tables, ["tracked_members", "aggregation_runs", "pending_challenges", "outbox_events"])
        assert.include(dump, denied.memberGuid)
        assert.include(outbox, challenged.memberGuid)

        const secrets = {
          "MX API key": Redacted.value(mxApiKey),
          "MX Basic credentials": btoa(`${mxClientId}:${Redacted.value(mxApiKey)}`),
          "credential value": newPassword,
          "MFA answer": mfaAnswer,
          "control token": Redacted.value(token)
        }
        const places = { logs, prometheus, spans, database: dump, outbox }
        for (const [place, content] of Object.entries(places)) {
          for (const [secret, value] of Object.entries(secrets)) {
            assert.isFalse(content.includes(value), `${secret} found in ${place}`)
          }
        }
      }))
  })
})
