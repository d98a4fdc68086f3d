/**
 * MX webhooks reach the worker on a listener of their own, only with `WORKER_WEBHOOKS=true`, behind the
 * HTTP Basic credentials registered at MX. A request without them gets 401 and changes nothing (no MX
 * call, no database write); an authenticated one gets 204 whether or not the member is tracked; and a
 * webhook is a hint: it never leads to an aggregate call, and repeats within the debounce window cost
 * at most one MX read.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { assert, describe, it, layer } from "@effect/vitest"
import type { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations, EngineConfig, WebhookListener, WorkerConfig } from "@mx-aggregation/worker"
import { ConfigProvider, Duration, Effect, Either, FastCheck as fc, Option, Redacted } from "effect"
import {
  ended,
  eventually,
  harness,
  newMember,
  postWebhook,
  token,
  webhookCredentials,
  webhookListener,
  webhookUrl
} from "../worker/harness.js"

const stats = Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)

const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`

const password = Redacted.value(webhookCredentials.password)

/** Every row of the store's tables (the workflow engine's own `cluster_*` tables keep their heartbeats). */
const storeRows = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows: Record<string, ReadonlyArray<unknown>> = {}
  for (
    const table of [
      "tracked_members",
      "aggregation_runs",
      "run_observations",
      "pending_challenges",
      "pull_watermarks",
      "accounts",
      "transactions",
      "outbox_events"
    ]
  ) {
    rows[table] = yield* sql`SELECT * FROM ${sql(table)}`
  }
  return rows
})

/** A member that ran once (aggregated, pulled): idle, with fresh data. */
const connectedMember = Effect.gen(function*() {
  const member = yield* newMember("password")
  const started = yield* Effect.flatMap(Aggregations.Aggregations, (a) => a.start(member.memberGuid, "Scheduled"))
  if (started._tag !== "Started") return yield* Effect.dieMessage("not started")
  assert.strictEqual((yield* ended(started.runId)).run.outcome, "connected")
  return member
})

/** The member's runs started by webhooks, once all of them ended and at least `atLeast` exist. */
const webhookRuns = (memberGuid: Member.MemberGuid, atLeast = 1) =>
  Effect.flatMap(AggregationRuns.AggregationRuns, (runs) =>
    eventually(
      `${atLeast} ended webhook run(s) of ${memberGuid}`,
      Effect.map(runs.listByMember(memberGuid, { limit: 50 }), (all) => {
        const hinted = all.filter((r) => r.reason === "webhook")
        return hinted.length >= atLeast && hinted.every((r) => r.endedAt !== null)
          ? Option.some(hinted)
          : Option.none()
      })
    ))

const statusWebhook = (memberGuid: string, connectionStatus = "DENIED") => ({
  action: "CHANGED",
  type: "CONNECTION_STATUS",
  connection_status: connectionStatus,
  connection_status_id: 6,
  member_guid: memberGuid,
  user_guid: "USR-forged"
})

const dataWebhook = (memberGuid: string) => ({
  action: "member_data_updated",
  type: "AGGREGATION",
  member_guid: memberGuid,
  completed_at: 1,
  is_background: true
})

describe("the webhook listener's configuration", () => {
  const parse = (env: Record<string, string>) =>
    Effect.either(
      Effect.withConfigProvider(WorkerConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  const on = {
    WORKER_WEBHOOKS: "true",
    WORKER_WEBHOOK_USERNAME: "mx",
    WORKER_WEBHOOK_PASSWORD: "a-webhook-password-of-32-characters!"
  }

  it.effect("off unless WORKER_WEBHOOKS=true; on, it has its own port and host (127.0.0.1 by default)", () =>
    Effect.gen(function*() {
      const off = yield* parse({ WORKER_WEBHOOK_USERNAME: "mx", WORKER_WEBHOOK_PASSWORD: on.WORKER_WEBHOOK_PASSWORD })
      assert(Either.isRight(off))
      assert.isTrue(Option.isNone(off.right.webhooks))
      const enabled = yield* parse(on)
      assert(Either.isRight(enabled))
      const settings = Option.getOrThrow(enabled.right.webhooks)
      assert.strictEqual(settings.host, "127.0.0.1")
      assert.notStrictEqual(settings.port, enabled.right.port)
      assert.strictEqual(Redacted.value(settings.password), on.WORKER_WEBHOOK_PASSWORD)
      assert.notInclude(JSON.stringify(settings) + String(settings.password), on.WORKER_WEBHOOK_PASSWORD)
      const moved = yield* parse({ ...on, WORKER_WEBHOOK_PORT: "9443", WORKER_WEBHOOK_HOST: "0.0.0.0" })
      assert(Either.isRight(moved))
      assert.deepInclude(Option.getOrThrow(moved.right.webhooks), { port: 9443, host: "0.0.0.0" })
    }))

  for (
    const [label, env, variable] of [
      ["without a username", { ...on, WORKER_WEBHOOK_USERNAME: "" }, "WORKER_WEBHOOK_USERNAME"],
      ["without a password", { WORKER_WEBHOOKS: "true", WORKER_WEBHOOK_USERNAME: "mx" }, "WORKER_WEBHOOK_PASSWORD"],
      ["with a short password", { ...on, WORKER_WEBHOOK_PASSWORD: "short-password" }, "WORKER_WEBHOOK_PASSWORD"],
      ["with a username holding a colon", { ...on, WORKER_WEBHOOK_USERNAME: "m:x" }, "WORKER_WEBHOOK_USERNAME"],
      ["on the control API's port", { ...on, WORKER_WEBHOOK_PORT: "8787" }, "WORKER_WEBHOOK_PORT"],
      [
        "on the metrics port",
        { ...on, WORKER_WEBHOOK_PORT: "9100", WORKER_METRICS_PORT: "9100" },
        "WORKER_WEBHOOK_PORT"
      ]
    ] as const
  ) {
    it.effect(`WORKER_WEBHOOKS=true ${label} is a start-up error naming ${variable}`, () =>
      Effect.gen(function*() {
        const config = yield* parse(env)
        assert(Either.isLeft(config))
        assert.include(String(config.left), variable)
        assert.notInclude(String(config.left), "short-password")
      }))
  }
})

describe("Basic credentials", () => {
  const matches = WebhookListener.authenticator({ username: "mx", password: Redacted.make("s3cret:with:colons") })

  it("only the exact username and password pass, whatever the header's shape", () => {
    assert.isTrue(matches(basic("mx", "s3cret:with:colons")))
    assert.isTrue(matches(`basic  ${Buffer.from("mx:s3cret:with:colons").toString("base64")}`))
    for (
      const header of [
        undefined,
        "",
        "Basic",
        "Basic !!!",
        basic("mx", "s3cret:with:colon"),
        basic("mx", "s3cret:with:colons "),
        basic("MX", "s3cret:with:colons"),
        basic("", "mx:s3cret:with:colons"),
        `Bearer ${Buffer.from("mx:s3cret:with:colons").toString("base64")}`,
        `Basic ${Buffer.from("mxs3cret:with:colons").toString("base64")}`
      ]
    ) {
      assert.isFalse(matches(header), String(header))
    }
  })

  it.prop("any other username or password is refused", [fc.string(), fc.string()], ([username, secret]) => {
    fc.pre(username !== "mx" || secret !== "s3cret:with:colons")
    assert.isFalse(matches(basic(username, secret)))
  })
})

describe("without WORKER_WEBHOOKS", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("there is no webhook listener, and the control API has no webhook route", () =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* Effect.serviceOption(WebhookListener.WebhookListener)))
        const { address } = yield* HttpServer.HttpServer
        const http = yield* HttpClient.HttpClient
        const { memberGuid } = yield* newMember("password")
        for (const auth of [undefined, Redacted.value(token)]) {
          const request = HttpClientRequest.post(
            `http://127.0.0.1:${(address as HttpServer.TcpAddress).port}/webhooks/mx`
          ).pipe(HttpClientRequest.bodyUnsafeJson(statusWebhook(memberGuid)))
          const response = yield* http.execute(
            auth === undefined ? request : HttpClientRequest.bearerToken(request, auth)
          )
          assert.strictEqual(response.status, 404)
        }
      }))
  })
})

describe("the webhook listener", () => {
  layer(
    harness({
      webhooks: "listener",
      // A short freshness window: data goes stale in 0.6 s of real time, when a forged webhook used to
      // make the worker call aggregate.
      engine: { policy: { ...EngineConfig.defaults.policy, freshness: Duration.minutes(1) } }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("without the right Basic credentials: 401 with WWW-Authenticate, no MX call, no database write", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* connectedMember
        const { address, handled } = yield* webhookListener
        const port = (address as HttpServer.TcpAddress).port
        const http = yield* HttpClient.HttpClient
        const before = { stats: yield* stats, rows: yield* storeRows, handled: yield* handled }
        const authorizations = [
          undefined,
          basic(webhookCredentials.username, "wrong"),
          basic(webhookCredentials.username, `${password}x`),
          basic("someone", password),
          basic("", ""),
          `Bearer ${Redacted.value(token)}`,
          `Basic ${Buffer.from(password).toString("base64")}`,
          "Basic not-base64!"
        ]
        for (const authorization of authorizations) {
          for (
            const request of [
              HttpClientRequest.post(`http://127.0.0.1:${port}/webhooks/mx`).pipe(
                HttpClientRequest.bodyUnsafeJson(statusWebhook(memberGuid))
              ),
              HttpClientRequest.post(`http://127.0.0.1:${port}/webhooks/mx`).pipe(
                HttpClientRequest.bodyUnsafeJson(dataWebhook(memberGuid))
              ),
              HttpClientRequest.get(`http://127.0.0.1:${port}/`),
              HttpClientRequest.post(`http://127.0.0.1:${port}/members/${memberGuid}/aggregate`)
            ]
          ) {
            const response = yield* http.execute(
              authorization === undefined
                ? request
                : HttpClientRequest.setHeader(request, "authorization", authorization)
            )
            const label = `${request.method} ${request.url} with ${authorization ?? "no credentials"}`
            assert.strictEqual(response.status, 401, label)
            assert.match(response.headers["www-authenticate"] ?? "", /^Basic realm=/, label)
            assert.notInclude(yield* response.text, memberGuid, label)
          }
        }
        const after = { stats: yield* stats, rows: yield* storeRows, handled: yield* handled }
        assert.strictEqual(after.stats.requests, before.stats.requests, "no MX call")
        assert.deepStrictEqual(after.rows, before.rows, "no database write")
        assert.strictEqual(after.handled, before.handled, "nothing handed to the engine")
      }))

    it.effect("authenticated: 204 whether or not the member is tracked, so the answer tells nothing", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* connectedMember
        const untracked = yield* newMember("password")
        yield* Effect.flatMap(TrackedMembers.TrackedMembers, (t) => t.untrack(untracked.memberGuid))
        const answers = []
        for (const guid of [memberGuid, untracked.memberGuid, "MBR-never-seen"]) {
          for (const body of [statusWebhook(guid), dataWebhook(guid)]) {
            const { body: text, headers, status } = yield* postWebhook(body)
            answers.push({ status, text, headers: Object.keys(headers).filter((h) => h !== "date").sort() })
          }
        }
        for (const answer of answers) assert.deepStrictEqual(answer, answers[0])
        assert.strictEqual(answers[0]!.status, 204)
        assert.strictEqual(answers[0]!.text, "")
        // Only the tracked member's webhook did anything: one run, which read MX and did not aggregate
        // (it may pull once, when the worker's clock put its last pull a little before MX's aggregation).
        const runs = yield* webhookRuns(memberGuid)
        assert.strictEqual(runs.length, 1)
        assert.include(["skipped", "pulled_only"], runs[0]!.outcome)
        const untrackedRuns = yield* Effect.flatMap(
          AggregationRuns.AggregationRuns,
          (r) => r.listByMember(untracked.memberGuid, { limit: 10 })
        )
        assert.isFalse(untrackedRuns.some((r) => r.reason === "webhook"))
      }))

    it.effect("bodies: not JSON is 400, too large is 413, other methods and paths 405 and 404; the listener keeps serving", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* postWebhook("{ not json")).status, 400)
        assert.include((yield* postWebhook("{ not json")).body, "JSON")
        assert.strictEqual((yield* postWebhook("x".repeat(70 * 1024))).status, 413)
        // JSON MX may send that the worker does not act on is received (MX resends what gets an error).
        for (const body of [{}, [], 42, { member_guid: null }, { type: "USER", user_guid: "USR-1" }]) {
          assert.strictEqual((yield* postWebhook(body)).status, 204, JSON.stringify(body))
        }
        const { address } = yield* webhookListener
        const http = yield* HttpClient.HttpClient
        const base = `http://127.0.0.1:${(address as HttpServer.TcpAddress).port}`
        const auth = HttpClientRequest.setHeader("authorization", basic(webhookCredentials.username, password))
        assert.strictEqual((yield* http.execute(auth(HttpClientRequest.get(`${base}/webhooks/mx`)))).status, 405)
        assert.strictEqual((yield* http.execute(auth(HttpClientRequest.post(`${base}/members`)))).status, 404)
        const { memberGuid } = yield* newMember("password")
        assert.strictEqual((yield* postWebhook(statusWebhook(memberGuid))).status, 204)
      }))

    it.effect("a webhook never makes the worker call aggregate, however stale the data; it pulls only what is new", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        // MX aggregated the member when it was created; the worker has not pulled it yet.
        const { memberGuid } = yield* newMember("password", { skipAggregation: false })
        const aggregatedAt = yield* eventually(
          "MX's aggregation of the new member",
          Effect.map(
            mx.member(memberGuid),
            Option.flatMap((s) =>
              s.job === null ? Option.fromNullable(s.status.successfully_aggregated_at) : Option.none()
            )
          )
        )
        // Stale: older than the worker's freshness window (1 minute of MX time).
        yield* eventually(
          "the data to be stale",
          Effect.map(
            mx.now,
            (now) => now.getTime() - Date.parse(aggregatedAt) > 90_000 ? Option.some(true) : Option.none()
          )
        )
        const before = yield* stats
        assert.strictEqual((yield* postWebhook(statusWebhook(memberGuid, "CHALLENGED"))).status, 204)
        const [first] = yield* webhookRuns(memberGuid)
        assert.strictEqual(first!.outcome, "pulled_only", "data MX has and the worker had not pulled")
        const afterFirst = yield* stats
        // Once the debounce window (30 s of MX time) is over, member_data_updated again: nothing new at MX.
        const second = yield* eventually(
          "a second webhook run",
          Effect.zipRight(
            postWebhook(dataWebhook(memberGuid)),
            Effect.map(webhookRuns(memberGuid), (runs) => runs.length >= 2 ? Option.some(runs) : Option.none())
          )
        )
        assert.strictEqual(second[0]!.outcome, "skipped", "no pull of data already pulled")
        const after = yield* stats
        const calls = (s: typeof before, operation: string) => s.byOperation[operation] ?? 0
        assert.strictEqual(calls(after, "aggregateMember") - calls(before, "aggregateMember"), 0, "no aggregate")
        assert.strictEqual(
          calls(after, "listMemberAccounts") - calls(afterFirst, "listMemberAccounts"),
          0,
          "no second pull"
        )
        const member = Option.getOrThrow(yield* Effect.flatMap(TrackedMembers.TrackedMembers, (t) => t.get(memberGuid)))
        assert.isNull(member.lastAggregateCalledAt)
        assert.isNotNull(member.nextDueAt, "the member's scheduled check is kept")
      }))
  })

  layer(
    harness({
      webhooks: "listener",
      // Every webhook of the test below falls within one window, however slowly a loaded machine sends them.
      engine: { webhookDebounce: Duration.hours(1) }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("repeats about one member within the debounce window cost one MX read in all", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* connectedMember
        const { handled } = yield* webhookListener
        const before = yield* stats
        const handledBefore = yield* handled
        const tracked = yield* TrackedMembers.TrackedMembers
        // One after the other, each handled and the member idle again before the next: without the
        // window, each would start a run of its own.
        const bodies = Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? statusWebhook : dataWebhook)(memberGuid))
        for (const [i, body] of bodies.entries()) {
          assert.strictEqual((yield* postWebhook(body)).status, 204)
          yield* eventually(
            "the webhook handled and the member idle",
            Effect.gen(function*() {
              const member = Option.getOrThrow(yield* tracked.get(memberGuid))
              return (yield* handled) - handledBefore > i && member.activeRunId === null
                ? Option.some(true)
                : Option.none()
            })
          )
        }
        // Concurrent ones too.
        yield* Effect.forEach(bodies, (body) => postWebhook(body), { concurrency: "unbounded" })
        yield* eventually(
          "every webhook handled",
          Effect.map(handled, (n) => (n - handledBefore >= 2 * bodies.length ? Option.some(n) : Option.none()))
        )
        const runs = yield* webhookRuns(memberGuid)
        assert.strictEqual(runs.length, 1)
        const after = yield* stats
        // Reads of the member (the sandbox serves this suite alone). The run may also pull once, when the
        // worker's clock put its last pull a little before MX's last aggregation.
        const reads = (s: typeof before) =>
          (s.byOperation["readMember"] ?? 0) + (s.byOperation["readMemberStatus"] ?? 0)
        assert.strictEqual(reads(after) - reads(before), 1, "one MX read")
      }))
  })

  layer(harness({ webhooks: true }), { excludeTestServices: true })((it) => {
    it.effect("the sandbox delivers its webhooks with the Basic credentials of the URL registered at it", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        const { handled } = yield* webhookListener
        const { memberGuid } = yield* newMember("LOCKED", { skipAggregation: false })
        yield* eventually(
          "the sandbox's webhooks handled",
          Effect.map(handled, (n) => (n > 0 ? Option.some(n) : Option.none()))
        )
        const delivered = (yield* stats).webhooks
        assert.isAbove(delivered.delivered, 0)
        assert.strictEqual(delivered.failedAttempts, 0, "none refused")
        // The same URL with a wrong password: refused, so MX (the sandbox) retries and gives up.
        const url = new URL(yield* webhookUrl)
        url.password = "wrong-password"
        yield* mx.setWebhookUrl(url.toString())
        yield* newMember("LOCKED", { skipAggregation: false })
        const refused = yield* eventually(
          "a refused delivery",
          Effect.map(stats, (s) => (s.webhooks.failedAttempts > 0 ? Option.some(s.webhooks) : Option.none()))
        )
        assert.isAbove(refused.failedAttempts, 0)
        assert.isDefined(memberGuid)
      }))
  })
})
