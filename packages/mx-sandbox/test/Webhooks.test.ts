import {
  HttpClient,
  HttpClientResponse,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ConnectionStatus } from "@mx-aggregation/domain"
import { Duration, Effect, Layer, Option, Queue, TestClock } from "effect"
import { createServer } from "node:http"
import { Sandbox, type Webhooks } from "../src/index.js"
import { createMember, createUser, get, makeRecorder, post, put, sandboxLayer, userWithMember } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

const url = "http://receiver.test/mx-webhooks"

/** A fake receiver: an HttpClient that records what is POSTed, failing the first `failures` attempts. */
const receiver = (failures = 0) =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<{ url: string; payload: Webhooks.Payload }>()
    let left = failures
    const attempts: Array<string> = []
    const client = HttpClient.make((request) =>
      Effect.sync(() => {
        attempts.push(request.url)
        if (left-- > 0) return HttpClientResponse.fromWeb(request, new Response("busy", { status: 503 }))
        const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
        Queue.unsafeOffer(received, { url: request.url, payload: JSON.parse(body) })
        return HttpClientResponse.fromWeb(request, new Response(null, { status: 200 }))
      })
    )
    return { client, received, attempts }
  })

const withReceiver = (client: HttpClient.HttpClient, options: Parameters<typeof sandboxLayer>[1] = {}) =>
  sandboxLayer(recorder, { webhooks: { url }, ...options }).pipe(
    Layer.provide(Layer.succeed(HttpClient.HttpClient, client))
  )

/** Lets the delivery fiber run. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** Lets the delivery fiber run, then takes everything delivered so far. */
const drain = <A>(queue: Queue.Queue<A>) => Effect.zipRight(settle, Effect.map(Queue.takeAll(queue), Array.from<A>))

const answerChallenges = (userGuid: string, memberGuid: string, value: string) =>
  Effect.gen(function*() {
    const listed = (yield* get(`/users/${userGuid}/members/${memberGuid}/challenges`)).body.challenges
    return yield* put(`/users/${userGuid}/members/${memberGuid}/resume`, {
      member: { challenges: listed.map((c: any) => ({ guid: c.guid, value })) }
    })
  })

describe("webhooks", () => {
  it.effect("CONNECTION_STATUS fires for exactly MX's eight statuses, with MX's fields", () =>
    Effect.gen(function*() {
      const { client, received } = yield* receiver()
      yield* Effect.gen(function*() {
        const userGuid = yield* createUser()
        const passwords = [
          "challenge",
          "UNAUTHORIZED",
          "IMPAIRED",
          "IMPEDED",
          "LOCKED",
          "BAD_REQUEST",
          "DEGRADED",
          "ok"
        ]
        const guids = new Map<string, string>()
        for (const password of passwords) {
          guids.set(password, (yield* createMember(userGuid, password)).body.member.guid)
        }
        // EXPIRED: a challenge left unanswered. REJECTED: another user's challenge answered wrong.
        const expired = guids.get("challenge")!
        const other = yield* createUser("other")
        const wrong = (yield* createMember(other, "challenge")).body.member.guid
        // PREVENTED: three DENIED in a row.
        const denied = guids.get("UNAUTHORIZED")!
        yield* TestClock.adjust("10 seconds")
        yield* answerChallenges(other, wrong, "wrong")
        yield* post(`/users/${userGuid}/members/${denied}/aggregate`)
        yield* TestClock.adjust("10 seconds")
        yield* post(`/users/${userGuid}/members/${denied}/aggregate`)
        yield* TestClock.adjust("10 minutes")
        const payloads = (yield* drain(received)).map((r) => r.payload)
        const statuses = payloads.filter((p): p is Webhooks.ConnectionStatusPayload => p.type === "CONNECTION_STATUS")
        assert.deepStrictEqual(
          new Set(statuses.map((p) => p.connection_status)),
          new Set(ConnectionStatus.webhookStatuses)
        )
        for (const payload of statuses) {
          assert.deepStrictEqual(Object.keys(payload).sort(), [
            "action",
            "connection_status",
            "connection_status_id",
            "connection_status_message",
            "member_guid",
            "type",
            "user_guid"
          ])
          assert.strictEqual(payload.action, "CHANGED")
          assert.strictEqual(payload.connection_status_id, ConnectionStatus.toId(payload.connection_status as any))
          assert.isNotEmpty(payload.connection_status_message)
        }
        const forMember = (guid: string) =>
          statuses.filter((p) => p.member_guid === guid).map((p) => p.connection_status)
        assert.deepStrictEqual(forMember(expired), ["CHALLENGED", "EXPIRED"])
        assert.deepStrictEqual(forMember(wrong), ["CHALLENGED", "REJECTED"])
        assert.deepStrictEqual(forMember(denied), ["DENIED", "DENIED", "PREVENTED"])
        assert.deepStrictEqual(forMember(guids.get("BAD_REQUEST")!), [])
        assert.deepStrictEqual(forMember(guids.get("ok")!), [])
        assert.strictEqual(statuses.find((p) => p.member_guid === wrong)?.user_guid, other)
      }).pipe(Effect.provide(withReceiver(client)))
    }))

  it.effect("member_data_updated follows a completed aggregation, with MX's fields", () =>
    Effect.gen(function*() {
      const { client, received } = yield* receiver()
      yield* Effect.gen(function*() {
        const { memberGuid, userGuid } = yield* userWithMember("password")
        yield* TestClock.adjust("29 seconds")
        assert.deepStrictEqual(yield* drain(received), [])
        yield* TestClock.adjust("1 second")
        const [delivery] = yield* drain(received)
        const member = (yield* get(`/users/${userGuid}/members/${memberGuid}`)).body.member
        const transactions = (yield* get(`/users/${userGuid}/members/${memberGuid}/transactions`)).body
        assert.strictEqual(delivery?.url, url)
        assert.deepStrictEqual(delivery?.payload, {
          action: "member_data_updated",
          completed_at: Date.parse("2025-03-01T12:00:30Z") / 1000,
          completed_on: "2025-03-01",
          is_background: false,
          job_guid: member.most_recent_job_guid,
          member_guid: memberGuid,
          transactions_created_count: transactions.pagination.total_entries,
          transactions_updated_count: 0,
          type: "AGGREGATION",
          user_guid: userGuid,
          user_id: "user-1"
        })
        // Background aggregations send it too, flagged.
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.setBackgroundAggregation(true)
        yield* TestClock.adjust("26 hours")
        const background = (yield* drain(received)).map((r) => r.payload)
        assert.isTrue(background.some((p) => p.type === "AGGREGATION" && p.is_background))
      }).pipe(Effect.provide(withReceiver(client)))
    }))

  it.effect("a failed delivery is retried with a doubling delay (MX time), then delivered", () =>
    Effect.gen(function*() {
      const { attempts, client, received } = yield* receiver(2)
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* userWithMember("password")
        yield* TestClock.adjust("30 seconds")
        assert.deepStrictEqual(yield* drain(received), [])
        assert.strictEqual(attempts.length, 1)
        yield* TestClock.adjust("10 seconds")
        yield* drain(received)
        assert.strictEqual(attempts.length, 2)
        yield* TestClock.adjust("19 seconds")
        assert.deepStrictEqual(yield* drain(received), [])
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* drain(received)).length, 1)
        assert.deepStrictEqual((yield* sandbox.stats).webhooks, { delivered: 1, failedAttempts: 2, dropped: 0 })
      }).pipe(Effect.provide(withReceiver(client)))
    }))

  it.effect("a delivery that keeps failing is dropped after the retries, and the next ones still go", () =>
    Effect.gen(function*() {
      const { client } = yield* receiver(1_000)
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* userWithMember("password")
        yield* TestClock.adjust("30 seconds")
        yield* TestClock.adjust("10 seconds")
        yield* settle
        assert.deepStrictEqual((yield* sandbox.stats).webhooks, { delivered: 0, failedAttempts: 2, dropped: 1 })
      }).pipe(Effect.provide(withReceiver(client, { webhooks: { url, retries: 1 } })))
    }))

  it.effect("webhooks can be switched on at runtime and need an HttpClient", () =>
    Effect.gen(function*() {
      const { client, received } = yield* receiver()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* userWithMember("UNAUTHORIZED")
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(yield* drain(received), [])
        yield* sandbox.setWebhookUrl(url)
        const other = yield* createUser("other")
        yield* createMember(other, "LOCKED")
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual((yield* drain(received)).map((r) => (r.payload as any).connection_status), ["LOCKED"])
      }).pipe(Effect.provide(withReceiver(client, { webhooks: {} })))
      const refused = yield* Effect.exit(
        Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.setWebhookUrl(url)).pipe(
          Effect.provide(sandboxLayer(recorder))
        )
      )
      assert.isTrue(refused._tag === "Failure")
    }))

  it.live("delivers to a real receiver over HTTP with NodeHttpClient (undici)", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<any>()
      const hooks = HttpRouter.empty.pipe(
        HttpRouter.post(
          "/hooks",
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            yield* Queue.offer(received, yield* request.json)
            return HttpServerResponse.empty({ status: 204 })
          })
        )
      )
      yield* HttpServer.serveEffect(hooks)
      const { address } = yield* HttpServer.HttpServer
      const port = address._tag === "TcpAddress" ? address.port : 0
      yield* Effect.gen(function*() {
        const { memberGuid } = yield* userWithMember("LOCKED")
        const payload = yield* Queue.take(received).pipe(Effect.timeout(Duration.seconds(5)))
        assert.deepInclude(payload, { type: "CONNECTION_STATUS", connection_status: "LOCKED", member_guid: memberGuid })
        const sandbox = yield* Sandbox.Sandbox
        const state = yield* sandbox.member(memberGuid)
        assert.isTrue(Option.isSome(state))
      }).pipe(
        Effect.provide(
          Sandbox.layer({
            observe: recorder.observe,
            timeScale: 1_000,
            webhooks: { url: `http://127.0.0.1:${port}/hooks` }
          }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
    }).pipe(
      Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Effect.scoped
    ))

  it.live("credentials in the webhook URL are sent as HTTP Basic authentication, not in the URL", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<{ authorization: string | undefined; url: string }>()
      yield* HttpServer.serveEffect(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        yield* Queue.offer(received, { authorization: request.headers["authorization"], url: request.url })
        return HttpServerResponse.empty({ status: 204 })
      }))
      const { address } = yield* HttpServer.HttpServer
      const port = address._tag === "TcpAddress" ? address.port : 0
      yield* Effect.gen(function*() {
        yield* userWithMember("LOCKED")
        const delivery = yield* Queue.take(received).pipe(Effect.timeout(Duration.seconds(5)))
        assert.strictEqual(delivery.authorization, `Basic ${Buffer.from("mx:p@ss:word").toString("base64")}`)
        assert.strictEqual(delivery.url, "/hooks?x=1")
        assert.deepStrictEqual((yield* (yield* Sandbox.Sandbox).stats).webhooks.dropped, 0)
      }).pipe(
        Effect.provide(
          Sandbox.layer({
            observe: recorder.observe,
            timeScale: 1_000,
            webhooks: { url: `http://mx:p%40ss:word@127.0.0.1:${port}/hooks?x=1` }
          }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
    }).pipe(
      Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Effect.scoped
    ))
})
