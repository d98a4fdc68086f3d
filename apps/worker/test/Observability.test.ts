/**
 * Observability: MX operations from method and path, the instrumented HttpClient under the real
 * MxClient (requests by operation and status, 429s, retries, transport failures), the recording
 * helpers, the Prometheus text (parsed strictly) on a metrics server and on an HttpApi router, the
 * backlog gauges from a real store, traces in memory and over OTLP/HTTP to a collector on
 * 127.0.0.1, and logs in JSON or pretty form with secrets redacted.
 *
 * Effect's metric registry is global to the process: tests compare values before and after.
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpClient,
  type HttpClientRequest,
  HttpClientResponse,
  HttpServer
} from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { AggregationRuns, PendingChallenges, Store, TestDatabase, TrackedMembers } from "@mx-aggregation/store"
import { EngineConfig } from "@mx-aggregation/worker"
import * as Metrics from "@mx-aggregation/worker/Metrics"
import * as Observability from "@mx-aggregation/worker/Observability"
import {
  ConfigProvider,
  type Console,
  Context,
  Effect,
  Either,
  Layer,
  Logger,
  Redacted,
  Schedule,
  Schema,
  Stream
} from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { format } from "node:util"

const apiKey = Redacted.make("api-key-Obs-7c1e55d0")

/** The current Prometheus text, parsed (the test fails on malformed text). */
const scrape = Effect.gen(function*() {
  const text = yield* Effect.flatMap(Observability.Prometheus, (prometheus) => prometheus.scrape)
  const parsed = Observability.parsePrometheus(text)
  if (Either.isLeft(parsed)) return assert.fail(`malformed Prometheus text: ${parsed.left.message}\n${text}`)
  return parsed.right
})

const value = (name: string, labels: Record<string, string> = {}) =>
  Effect.map(scrape, (exposition) => Observability.sumOf(exposition, name, labels))

/** An HttpClient answering each request with the next of `answers` (status, body), recording the requests. */
const fakeMx = (answers: Array<readonly [number, unknown]>) => {
  const requests: Array<HttpClientRequest.HttpClientRequest> = []
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      requests.push(request)
      const [status, body] = answers.shift() ?? [500, { error: "no more answers" }]
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(body), {
          status,
          headers: { "content-type": "application/json", ...(status === 429 ? { "retry-after": "0" } : {}) }
        })
      )
    })
  )
  return { client, requests }
}

const memberBody = { member: { guid: "MBR-1", user_guid: "USR-1", connection_status: "CONNECTED" } }
const ref = { userGuid: Member.UserGuid.make("USR-1"), memberGuid: Member.MemberGuid.make("MBR-1") }

/** The real MxClient, instrumented, over the HttpClient in context, with immediate retries. */
const instrumentedMx = (baseUrl: string) =>
  MxClient.layer({ baseUrl, clientId: "client", apiKey, retrySchedule: Schedule.recurs(3) }).pipe(
    Layer.provide(Metrics.layerMxHttpClient)
  )

const over = (client: HttpClient.HttpClient) => Layer.succeed(HttpClient.HttpClient, client)

/** Captures what loggers print through the Console service. */
const capturingConsole = Effect.map(Effect.console, (real) => {
  const lines: Array<string> = []
  const push = (...args: ReadonlyArray<unknown>) => {
    lines.push(format(...args))
  }
  const unsafe = { ...globalThis.console, log: push, info: push, warn: push, error: push, debug: push }
  return { console: { ...real, unsafe } as Console.Console, lines }
})

describe("Metrics.operationOf", () => {
  it("names MX operations as MX's spec does, behind any base path, ignoring the query", () => {
    const cases: Array<readonly [string, string, string]> = [
      ["GET", "https://int-api.mx.com/users/U/members/M/status", "readMemberStatus"],
      ["POST", "https://int-api.mx.com/users/U/members/M/aggregate?include_transactions=true", "aggregateMember"],
      ["PUT", "http://127.0.0.1:9/prefix/users/U/members/M/resume", "resumeAggregation"],
      ["GET", "/users/U/members/M/challenges", "listMemberChallenges"],
      ["GET", "/users/U/members/M", "readMember"],
      ["PUT", "/users/U/members/M", "updateMember"],
      ["DELETE", "/users/U/members/M", "deleteMember"],
      ["GET", "/users/U/members", "listMembers"],
      ["POST", "/users/U/members", "createMember"],
      ["GET", "/users/U/members/M/credentials", "listMemberCredentials"],
      ["GET", "/users/U/members/M/accounts?page=2", "listMemberAccounts"],
      ["GET", "/users/U/members/M/transactions", "listTransactionsByMember"],
      ["GET", "/users/U/transactions", "listTransactions"],
      ["GET", "/users/U", "readUser"],
      ["GET", "/users", "listUsers"],
      ["GET", "/institutions/mxbank/credentials", "listInstitutionCredentials"],
      ["get", "/institutions/mxbank", "readInstitution"],
      ["PATCH", "/users/U/members/M", "unknown"],
      ["GET", "/webhooks/whatever", "unknown"]
    ]
    for (const [method, url, operation] of cases) {
      assert.strictEqual(Metrics.operationOf(method, url), operation, `${method} ${url}`)
    }
  })
})

describe("MX calls through the instrumented HttpClient", () => {
  it.effect("every attempt by operation and status, 429s, retries and latency", () =>
    Effect.gen(function*() {
      const fake = fakeMx([[429, { error: "slow down" }], [503, { error: "busy" }], [200, memberBody], [
        200,
        memberBody
      ]])
      const read = Effect.all({
        r429: value("mx_api_requests_total", { operation: "readMember", status: "429" }),
        r503: value("mx_api_requests_total", { operation: "readMember", status: "503" }),
        r200: value("mx_api_requests_total", { operation: "readMember", status: "200" }),
        limited: value("mx_api_rate_limited_total", { operation: "readMember" }),
        retries: value("mx_api_retries_total", { operation: "readMember" }),
        timed: value("mx_api_request_duration_seconds_count", { operation: "readMember" })
      })
      const before = yield* read
      const mx = yield* MxClient.MxClient.pipe(
        Effect.provide(instrumentedMx("http://mx.test/base").pipe(Layer.provide(over(fake.client))))
      )
      yield* mx.readMember(ref)
      yield* mx.readMember(ref)
      assert.strictEqual(fake.requests.length, 4)
      const after = yield* read
      assert.deepStrictEqual({
        r429: after.r429 - before.r429,
        r503: after.r503 - before.r503,
        r200: after.r200 - before.r200,
        limited: after.limited - before.limited,
        // The first call took three attempts (two retries), the second one.
        retries: after.retries - before.retries,
        timed: after.timed - before.timed
      }, { r429: 1, r503: 1, r200: 2, limited: 1, retries: 2, timed: 4 })
    }).pipe(Effect.provide(Observability.layer())))

  it.live("a request with no answer counts as status `error`", () =>
    Effect.gen(function*() {
      // Port 1 on the loopback: the connection is refused.
      const before = yield* value("mx_api_requests_total", { operation: "listMembers", status: "error" })
      const mx = yield* MxClient.MxClient.pipe(Effect.provide(instrumentedMx("http://127.0.0.1:1")))
      const exit = yield* Effect.exit(Stream.runDrain(mx.listMembers({ userGuid: ref.userGuid })))
      assert.isTrue(exit._tag === "Failure")
      const after = yield* value("mx_api_requests_total", { operation: "listMembers", status: "error" })
      assert.strictEqual(after - before, 4, "the first attempt and three retries")
    }).pipe(Effect.provide(Observability.layer()), Effect.provide(NodeHttpClient.layerUndici)))
})

describe("MX calls the client stops waiting for", () => {
  it.live("count as status `interrupted` and are retried", () =>
    Effect.gen(function*() {
      const silent = HttpClient.make(() => Effect.never)
      const before = yield* Effect.all([
        value("mx_api_requests_total", { operation: "readMemberStatus", status: "interrupted" }),
        value("mx_api_retries_total", { operation: "readMemberStatus" })
      ])
      const mx = yield* MxClient.MxClient.pipe(
        Effect.provide(
          MxClient.layer({
            baseUrl: "http://mx.test",
            clientId: "client",
            apiKey,
            requestTimeout: "20 millis",
            retrySchedule: Schedule.recurs(2)
          }).pipe(Layer.provide(Metrics.layerMxHttpClient), Layer.provide(over(silent)))
        )
      )
      const exit = yield* Effect.exit(mx.readMemberStatus(ref))
      assert.isTrue(exit._tag === "Failure")
      const after = yield* Effect.all([
        value("mx_api_requests_total", { operation: "readMemberStatus", status: "interrupted" }),
        value("mx_api_retries_total", { operation: "readMemberStatus" })
      ])
      assert.deepStrictEqual([after[0] - before[0], after[1] - before[1]], [3, 2])
    }).pipe(Effect.provide(Observability.layer())))
})

describe("recording helpers", () => {
  it.effect("runs, MFA waits and polls appear with their types and labels", () =>
    Effect.gen(function*() {
      const read = Effect.all({
        started: value("mx_aggregation_runs_started_total", { trigger: "UserPresent" }),
        settled: value("mx_aggregation_runs_settled_total", { outcome: "connected", status_class: "Connected" }),
        settledChallenged: value("mx_aggregation_runs_settled_total", {
          outcome: "needs_user_present",
          status_class: "Challenged"
        }),
        durations: value("mx_aggregation_run_duration_seconds_count", { outcome: "connected" }),
        durationSum: value("mx_aggregation_run_duration_seconds_sum", { outcome: "connected" }),
        waits: value("mx_aggregation_mfa_waits_total", { result: "started" }),
        answered: value("mx_aggregation_mfa_waits_total", { result: "answered" }),
        timedOut: value("mx_aggregation_mfa_waits_total", { result: "timed_out" }),
        waited: value("mx_aggregation_mfa_wait_seconds_count", { result: "answered" }),
        polls: value("mx_aggregation_status_polls_total"),
        rounds: value("mx_aggregation_polls_per_round_count")
      })
      const before = yield* read
      yield* Metrics.runStarted("UserPresent")
      yield* Metrics.runSettled({ outcome: "connected", status: "CONNECTED", durationMillis: 42_000 })
      yield* Metrics.runSettled({ outcome: "needs_user_present", status: "CHALLENGED" })
      yield* Metrics.mfaWaitStarted
      yield* Metrics.mfaWaitStarted
      yield* Metrics.mfaWaitEnded("answered", 30_000)
      yield* Metrics.mfaWaitEnded("timed_out")
      yield* Metrics.pollRoundEnded(5)
      yield* Metrics.pollRoundEnded(2)
      const after = yield* read
      const delta = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]])
      )
      assert.deepStrictEqual(delta, {
        started: 1,
        settled: 1,
        settledChallenged: 1,
        durations: 1,
        durationSum: 42,
        waits: 2,
        answered: 1,
        timedOut: 1,
        waited: 1,
        polls: 7,
        rounds: 2
      })
      const { types } = yield* scrape
      assert.strictEqual(types.get("mx_aggregation_runs_started_total"), "counter")
      assert.strictEqual(types.get("mx_aggregation_runs_settled_total"), "counter")
      assert.strictEqual(types.get("mx_aggregation_run_duration_seconds"), "histogram")
      assert.strictEqual(types.get("mx_aggregation_mfa_waits_total"), "counter")
      assert.strictEqual(types.get("mx_aggregation_polls_per_round"), "histogram")
    }).pipe(Effect.provide(Observability.layer())))
})

describe("Prometheus text", () => {
  it("the parser refuses malformed text", () => {
    const bad = [
      "no_type 1",
      "# TYPE x counter\nx{a=\"1\" 2",
      "# TYPE x counter\nx{a=1} 2",
      "# TYPE x counter\nx one",
      "# TYPE x wrong\nx 1",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1"
    ]
    for (const text of bad) assert.isTrue(Either.isLeft(Observability.parsePrometheus(text)), text)
    const good = Observability.parsePrometheus(
      "# HELP x_total some help\n# TYPE x_total counter\nx_total{a=\"q\\\"uote\",b=\"2\"} 3 1700000000\n" +
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3.5\n"
    )
    assert.isTrue(Either.isRight(good))
    if (Either.isRight(good)) {
      assert.strictEqual(Observability.sumOf(good.right, "x_total", { a: "q\"uote" }), 3)
      assert.strictEqual(Observability.sumOf(good.right, "h_sum"), 3.5)
    }
  })

  it.live("a metrics server answers GET /metrics, behind a token when one is set, and 404 elsewhere", () =>
    Effect.gen(function*() {
      const token = Redacted.make("metrics-token-5b2f")
      const { url } = yield* Observability.MetricsServer
      const client = yield* HttpClient.HttpClient
      yield* Metrics.runStarted("Manual")
      const unauthorized = yield* client.get(`${url}/metrics`)
      assert.strictEqual(unauthorized.status, 401)
      const wrong = yield* client.get(`${url}/metrics`, { headers: { authorization: "Bearer nope" } })
      assert.strictEqual(wrong.status, 401)
      const ok = yield* client.get(`${url}/metrics`, { headers: { authorization: `Bearer ${Redacted.value(token)}` } })
      assert.strictEqual(ok.status, 200)
      assert.match(ok.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/)
      const parsed = Observability.parsePrometheus(yield* ok.text)
      assert.isTrue(Either.isRight(parsed))
      if (Either.isRight(parsed)) {
        assert.isAtLeast(
          Observability.sumOf(parsed.right, "mx_aggregation_runs_started_total", { trigger: "Manual" }),
          1
        )
      }
      const other = yield* client.get(`${url}/other`)
      assert.strictEqual(other.status, 404)
    }).pipe(
      Effect.provide(
        Observability.layerMetricsServer({ port: 0, host: "127.0.0.1", token: Redacted.make("metrics-token-5b2f") })
          .pipe(Layer.provideMerge(Observability.layer()), Layer.provideMerge(NodeHttpClient.layerUndici))
      )
    ))

  it.live("GET /metrics mounts on an HttpApi server beside its endpoints", () => {
    class Api extends HttpApi.make("test").add(
      HttpApiGroup.make("health").add(
        HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      )
    ) {}
    const ApiLive = HttpApiBuilder.api(Api).pipe(
      Layer.provide(
        HttpApiBuilder.group(
          Api,
          "health",
          (handlers) => handlers.handle("health", () => Effect.succeed({ status: "ok" as const }))
        )
      )
    )
    const server = HttpApiBuilder.serve().pipe(
      Layer.provide(Observability.layerMetricsRoute()),
      Layer.provide(ApiLive),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    )
    return Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address as HttpServer.TcpAddress
      const client = yield* HttpClient.HttpClient
      const base = `http://127.0.0.1:${address.port}`
      const metrics = yield* client.get(`${base}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.isTrue(Either.isRight(Observability.parsePrometheus(yield* metrics.text)))
      const health = yield* client.get(`${base}/health`)
      assert.strictEqual(health.status, 200)
    }).pipe(
      Effect.provide(server.pipe(Layer.provide(Observability.layer()), Layer.provideMerge(NodeHttpClient.layerUndici)))
    )
  })
})

describe("backlog gauges from the store", () => {
  it.live("active runs, due members, members per status class, open challenges, runs per outcome", () =>
    Effect.gen(function*() {
      const tracked = yield* TrackedMembers.TrackedMembers
      const runs = yield* AggregationRuns.AggregationRuns
      const pending = yield* PendingChallenges.PendingChallenges
      const user = Member.UserGuid.make("USR-gauges")
      const guids = ["MBR-g1", "MBR-g2", "MBR-g3", "MBR-g4"].map((g) => Member.MemberGuid.make(g))
      const now = Date.now()
      for (const [i, memberGuid] of guids.entries()) {
        // Three due now, the fourth in an hour.
        yield* tracked.track({
          memberGuid,
          userGuid: user,
          institutionCode: null,
          nextDueAt: i < 3 ? now : now + 3600_000
        })
      }
      const runId = AggregationRuns.RunId.make("run-gauges-1")
      yield* tracked.claim(guids[0]!, runId)
      yield* runs.start({ runId, memberGuid: guids[0]!, reason: "manual" })
      yield* tracked.recordObservation({
        memberGuid: guids[0]!,
        status: "CHALLENGED",
        isBeingAggregated: true,
        successfullyAggregatedAt: null
      })
      yield* tracked.recordObservation({
        memberGuid: guids[1]!,
        status: "CONNECTED",
        isBeingAggregated: false,
        successfullyAggregatedAt: now
      })
      yield* pending.add({
        memberGuid: guids[0]!,
        runId,
        challenges: [
          Schema.decodeUnknownSync(Member.Challenge)({ guid: "CRD-1", type: "TEXT", label: "What is the answer?" })
        ],
        expiresAt: now + 60_000
      })
      const done = AggregationRuns.RunId.make("run-gauges-0")
      yield* runs.start({ runId: done, memberGuid: guids[1]!, reason: "scheduled" })
      yield* runs.finish({ runId: done, outcome: "connected", failureReason: null })

      const exposition = yield* scrape
      const gauge = (name: string, labels: Record<string, string> = {}) => Observability.sumOf(exposition, name, labels)
      assert.strictEqual(exposition.types.get("mx_aggregation_runs_active"), "gauge")
      assert.strictEqual(gauge("mx_aggregation_runs_active"), 1)
      assert.strictEqual(gauge("mx_aggregation_members_due"), 2, "due and not running")
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "Challenged" }), 1)
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "Connected" }), 1)
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "None" }), 2)
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "Denied" }), 0)
      assert.strictEqual(gauge("mx_aggregation_challenges_pending"), 1)
      assert.strictEqual(gauge("mx_aggregation_runs_stored", { outcome: "connected" }), 1)
      assert.strictEqual(gauge("mx_aggregation_runs_stored", { outcome: "unfinished" }), 1)

      // A member that leaves a class sets it back to 0 on the next scrape.
      yield* pending.resolve({ memberGuid: guids[0]!, resolution: "answered" })
      yield* tracked.recordObservation({
        memberGuid: guids[0]!,
        status: "CONNECTED",
        isBeingAggregated: false,
        successfullyAggregatedAt: now
      })
      const later = yield* scrape
      assert.strictEqual(Observability.sumOf(later, "mx_aggregation_members", { status_class: "Challenged" }), 0)
      assert.strictEqual(Observability.sumOf(later, "mx_aggregation_members", { status_class: "Connected" }), 2)
      assert.strictEqual(Observability.sumOf(later, "mx_aggregation_challenges_pending"), 0)
    }).pipe(
      Effect.provide(
        Observability.layerStoreGauges.pipe(
          Layer.provideMerge(Observability.layer()),
          Layer.provideMerge(Store.layer),
          Layer.provide(EngineConfig.layer()),
          Layer.provide(TestDatabase.layer("sqlite"))
        )
      )
    ))
})

/** The repository with the rows of every result added to `counter` (a list is its length, anything else one row). */
const countingRows = <S extends object>(service: S, counter: { rows: number }): S =>
  new Proxy(service, {
    get(target, key, receiver) {
      const member = Reflect.get(target, key, receiver)
      const count = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(effect, (result) => Effect.sync(() => (counter.rows += Array.isArray(result) ? result.length : 1)))
      if (Effect.isEffect(member)) return count(member)
      if (typeof member !== "function") return member
      return (...args: Array<unknown>) => {
        const result = (member as (...args: Array<unknown>) => unknown).apply(target, args)
        return Effect.isEffect(result) ? count(result) : result
      }
    }
  })

describe.each(TestDatabase.kinds)("backlog gauges on %s", (kind) => {
  it.live("a scrape reads a few count rows, not the members it counts", () =>
    Effect.gen(function*() {
      const counter = { rows: 0 }
      const store = yield* Layer.build(Store.layer.pipe(Layer.provide(TestDatabase.layer(kind))))
      const tracked = Context.get(store, TrackedMembers.TrackedMembers)
      const runs = Context.get(store, AggregationRuns.AggregationRuns)
      const pending = Context.get(store, PendingChallenges.PendingChallenges)
      const counted = Layer.mergeAll(
        Layer.succeed(TrackedMembers.TrackedMembers, countingRows(tracked, counter)),
        Layer.succeed(AggregationRuns.AggregationRuns, countingRows(runs, counter)),
        Layer.succeed(PendingChallenges.PendingChallenges, countingRows(pending, counter))
      )
      const prometheus = Context.get(
        yield* Layer.build(
          Observability.layerStoreGauges.pipe(
            Layer.provideMerge(Observability.layer()),
            Layer.provide(counted),
            Layer.provide(EngineConfig.layer())
          )
        ),
        Observability.Prometheus
      )
      const now = Date.now()
      const challenge = Schema.decodeUnknownSync(Member.Challenge)({ guid: "CRD-rows", type: "TEXT", label: "Code?" })
      let seeded = 0
      /** `n` more members: half due, a quarter running, half of the running ones waiting on a challenge. */
      const seed = (n: number) =>
        Effect.gen(function*() {
          const guids = Array.from({ length: n }, (_, i) => Member.MemberGuid.make(`MBR-rows-${seeded + i}`))
          yield* tracked.trackMany(guids.map((memberGuid, i) => ({
            memberGuid,
            userGuid: Member.UserGuid.make("USR-rows"),
            nextDueAt: i % 2 === 0 ? now - 1_000 : now + 3_600_000
          })))
          for (const [i, memberGuid] of guids.entries()) {
            yield* tracked.recordObservation({ memberGuid, status: i % 3 === 0 ? "DENIED" : "CONNECTED" })
            if (i % 4 !== 1) continue
            const runId = AggregationRuns.RunId.make(`run-rows-${seeded + i}`)
            yield* tracked.claim(memberGuid, runId)
            yield* runs.start({ runId, memberGuid, reason: "scheduled" })
            if (i % 8 === 1) yield* pending.add({ memberGuid, runId, challenges: [challenge] })
          }
          seeded += n
        })
      const scrapeRows = Effect.gen(function*() {
        counter.rows = 0
        const exposition = Observability.parsePrometheus(yield* prometheus.scrape).pipe(Either.getOrThrow)
        return {
          rows: counter.rows,
          due: Observability.sumOf(exposition, "mx_aggregation_members_due"),
          active: Observability.sumOf(exposition, "mx_aggregation_runs_active"),
          challenges: Observability.sumOf(exposition, "mx_aggregation_challenges_pending")
        }
      })
      yield* seed(40)
      const small = yield* scrapeRows
      yield* seed(400)
      const large = yield* scrapeRows
      // Eleven times the members, the same reads: active, due, open challenges (one row each), one row
      // per status class and per run outcome present.
      assert.deepStrictEqual(
        { due: small.due, active: small.active, challenges: small.challenges },
        { due: 20, active: 10, challenges: 5 }
      )
      assert.deepStrictEqual(
        { due: large.due, active: large.active, challenges: large.challenges },
        { due: 220, active: 110, challenges: 55 }
      )
      assert.strictEqual(large.rows, small.rows)
      assert.isAtMost(large.rows, 6)
    }).pipe(Effect.scoped), 120_000)
})

describe("traces", () => {
  it.effect("MX calls become OpenTelemetry spans with MX attributes and no credentials", () =>
    Effect.gen(function*() {
      const recorder = Observability.makeSpanRecorder()
      const fake = fakeMx([[200, memberBody]])
      yield* Effect.gen(function*() {
        const mx = yield* MxClient.MxClient
        yield* mx.readMember(ref).pipe(Effect.withSpan("AggregationWorkflow", { attributes: { memberGuid: "MBR-1" } }))
      }).pipe(
        Effect.provide(instrumentedMx("http://mx.test").pipe(Layer.provide(over(fake.client)))),
        Effect.provide(Observability.layer({ spanProcessors: [recorder.processor] }))
      )
      const spans = recorder.spans()
      const byName = (name: string) => spans.find((s) => s.name === name)
      const workflow = byName("AggregationWorkflow")
      const call = byName("MxClient.readMember")
      const http = spans.find((s) => s.name.startsWith("http.client"))
      assert.isDefined(workflow)
      assert.isDefined(call)
      assert.isDefined(http)
      assert.strictEqual(call!.attributes["mx.operation"], "readMember")
      assert.strictEqual(call!.attributes["mx.member_guid"], "MBR-1")
      assert.strictEqual(call!.parentSpanContext?.spanId, workflow!.spanContext().spanId)
      assert.strictEqual(http!.parentSpanContext?.spanId, call!.spanContext().spanId)
      assert.strictEqual(call!.spanContext().traceId, workflow!.spanContext().traceId)
      const text = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })))
      const basic = btoa(`client:${Redacted.value(apiKey)}`)
      assert.notInclude(text, Redacted.value(apiKey))
      assert.notInclude(text, basic)
      assert.include(text, "/members/MBR-1")
    }))

  it.live("with an OTLP endpoint, spans are sent to <endpoint>/v1/traces", () =>
    Effect.gen(function*() {
      const received: Array<{ readonly url: string; readonly body: string }> = []
      const server = yield* Effect.acquireRelease(
        Effect.async<ReturnType<typeof createServer>>((resume) => {
          const s = createServer((req, res) => {
            let body = ""
            req.on("data", (chunk) => (body += chunk))
            req.on("end", () => {
              received.push({ url: req.url ?? "", body })
              res.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) =>
          Effect.async<void>((resume) => {
            s.close(() => resume(Effect.void))
          })
      )
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      // Closing the layer flushes the batch.
      yield* Effect.void.pipe(
        Effect.withSpan("otlp-export-check", { attributes: { memberGuid: "MBR-otlp" } }),
        Effect.provide(Observability.layer({ otlpEndpoint: endpoint, serviceName: "worker-under-test" }))
      )
      assert.strictEqual(received.length, 1)
      assert.strictEqual(received[0]!.url, "/v1/traces")
      assert.include(received[0]!.body, "otlp-export-check")
      assert.include(received[0]!.body, "worker-under-test")
      assert.include(received[0]!.body, "MBR-otlp")
    }).pipe(Effect.scoped))

  it.effect("without an endpoint or processors no OpenTelemetry tracer is installed", () =>
    Effect.gen(function*() {
      const span = yield* Effect.makeSpan("plain")
      // Effect's own tracer: its spans are not OpenTelemetry spans.
      assert.notProperty(span, "span")
      const otel = yield* Effect.makeSpan("otel").pipe(
        Effect.provide(Observability.layer({ spanProcessors: [Observability.makeSpanRecorder().processor] }))
      )
      assert.property(otel, "span")
    }).pipe(Effect.provide(Observability.layer())))
})

describe("logs", () => {
  const secret = "s3cret-answer-91f3"

  const logSomething = Effect.gen(function*() {
    yield* Effect.logInfo("MFA answers sent", Redacted.make(secret), { answer: Redacted.make(secret) }).pipe(
      Effect.annotateLogs({ memberGuid: "MBR-log-1", token: Redacted.make(secret) })
    )
    yield* Effect.logWarning("MX call failed").pipe(
      Effect.annotateLogs({ memberGuid: "MBR-log-2" }),
      Effect.withLogSpan("poll")
    )
    yield* Effect.logError("failed", new Error(`boom ${String(Redacted.make(secret))}`))
  })

  it.effect("JSON: one object per line with the member guid, secrets printed as <redacted>", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capturingConsole
      yield* logSomething.pipe(Effect.provide(Observability.loggerLayer("json")), Effect.withConsole(console))
      assert.strictEqual(lines.length, 3)
      const entries = lines.map((line) => JSON.parse(line))
      assert.strictEqual(entries[0].annotations.memberGuid, "MBR-log-1")
      assert.strictEqual(entries[0].annotations.token, "<redacted>")
      assert.deepStrictEqual(entries[0].message, ["MFA answers sent", "<redacted>", { answer: "<redacted>" }])
      assert.strictEqual(entries[1].logLevel, "WARN")
      assert.property(entries[1].spans, "poll")
      for (const line of lines) assert.notInclude(line, secret)
    }))

  it.effect("pretty: human-readable, secrets printed as <redacted>", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capturingConsole
      yield* logSomething.pipe(Effect.provide(Observability.loggerLayer("pretty")), Effect.withConsole(console))
      const text = lines.join("\n")
      assert.include(text, "MFA answers sent")
      assert.include(text, "MBR-log-1")
      assert.include(text, "<redacted>")
      assert.notInclude(text, secret)
      assert.throws(() => JSON.parse(lines[0]!))
    }))

  it.effect("replaces the pretty logger that NodeRuntime.runMain installs: each line printed once", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capturingConsole
      yield* Effect.logInfo("once").pipe(
        Effect.provide(Observability.loggerLayer("json")),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLoggerDefault)),
        Effect.withConsole(console)
      )
      assert.strictEqual(lines.length, 1)
      assert.strictEqual(JSON.parse(lines[0]!).message, "once")
    }))

  it.effect("auto: pretty on a terminal, JSON otherwise", () =>
    Effect.gen(function*() {
      const wasTTY = process.stdout.isTTY
      const linesWhen = (isTTY: boolean) =>
        Effect.gen(function*() {
          const { console, lines } = yield* capturingConsole
          process.stdout.isTTY = isTTY
          const layer = Observability.loggerLayer("auto")
          process.stdout.isTTY = wasTTY
          yield* Effect.logInfo("hello").pipe(Effect.provide(layer), Effect.withConsole(console))
          return lines
        })
      const notTerminal = yield* linesWhen(false)
      assert.strictEqual(JSON.parse(notTerminal[0]!).message, "hello")
      const terminal = yield* linesWhen(true)
      assert.throws(() => JSON.parse(terminal[0]!))
      assert.include(terminal[0]!, "hello")
    }))
})

describe("WORKER_LOG_LEVEL", () => {
  const read = (value: string) =>
    Observability.logLevelConfig.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WORKER_LOG_LEVEL", value]]))),
      Effect.either
    )

  it.effect("takes Effect's levels in any case, and Warning for Warn", () =>
    Effect.gen(function*() {
      for (const [value, label] of [["Debug", "DEBUG"], ["info", "INFO"], ["Warning", "WARN"], ["WARN", "WARN"]]) {
        const level = yield* read(value!)
        assert.isTrue(Either.isRight(level), value)
        assert.strictEqual(Either.getOrThrow(level).label, label)
      }
    }))

  it.effect("refuses anything else with a message naming the levels", () =>
    Effect.gen(function*() {
      const level = yield* read("loud")
      assert.isTrue(Either.isLeft(level))
      assert.match(String(Either.getLeft(level).pipe((o) => o._tag === "Some" ? o.value : "")), /must be one of .*WARN/)
    }))
})
