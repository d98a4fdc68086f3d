/**
 * The control API's rate limit (`WORKER_API_RATE_LIMIT` requests per minute per client, on
 * `@effect/experimental`'s `RateLimiter`): each client (address, and whether it presents the token) has
 * its own budget, refilled over the minute; `X-Forwarded-For` names the client only when the proxy is
 * trusted (`WORKER_TRUST_PROXY`), and then by its first address; a refusal is a 429 problem with
 * `Retry-After`.
 *
 * The server is the worker's own (`ControlApiLive.serverLayer`) on a real SQLite store, with the
 * engine's services stubbed out (no request here reaches them) so that the whole server runs on the
 * test clock: budgets refill only when the test moves the clock.
 */
import { RateLimiter } from "@effect/experimental"
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { MxClient } from "@mx-aggregation/mx-api"
import { Store, TestDatabase } from "@mx-aggregation/store"
import { Aggregations, ApiLimits, ControlApiLive, EngineConfig, MemberErasure } from "@mx-aggregation/worker"
import { type Context, Effect, Layer, Redacted, TestClock } from "effect"
import { assertProblem, send } from "./support.js"

const token = Redacted.make("rate-limit-token-0123456789")
const perMinute = 3

/** A service none of these requests may reach. */
const unreachable = <A>(name: string) =>
  new Proxy({}, { get: (_, key) => () => Effect.dieMessage(`${name}.${String(key)} must not be called`) }) as A

const server = (trustProxy: boolean) =>
  ControlApiLive.serverLayer({
    token,
    port: 0,
    host: "127.0.0.1",
    limits: { ...ApiLimits.defaultLimits, requestsPerMinute: perMinute, trustProxy }
  }).pipe(
    Layer.provide(Layer.succeed(Aggregations.Aggregations, unreachable<Aggregations.Service>("Aggregations"))),
    Layer.provide(
      Layer.succeed(MxClient.MxClient, unreachable<Context.Tag.Service<typeof MxClient.MxClient>>("MxClient"))
    ),
    Layer.provide(Layer.succeed(MemberErasure.MemberErasure, unreachable<MemberErasure.Service>("MemberErasure"))),
    Layer.provide(EngineConfig.layer()),
    Layer.provideMerge(Store.layer),
    Layer.provideMerge(TestDatabase.layer("sqlite")),
    Layer.provideMerge(NodeHttpClient.layerUndici)
  )

const members = (options: { readonly forwardedFor?: string; readonly token?: string | null } = {}) =>
  send((base) => {
    const request = HttpClientRequest.get(`${base}/members`).pipe(
      options.forwardedFor === undefined
        ? (r) => r
        : HttpClientRequest.setHeader("x-forwarded-for", options.forwardedFor)
    )
    const given = options.token === undefined ? Redacted.value(token) : options.token
    return given === null ? request : HttpClientRequest.bearerToken(request, given)
  })

const statuses = (n: number, request: ReturnType<typeof members>) =>
  Effect.forEach(Array.from({ length: n }), () => Effect.map(request, (a) => a.status))

describe("rate limit behind a trusted proxy", () => {
  layer(server(true))((it) => {
    it.effect("each client has its own budget: another address, or requests without the token, are counted apart", () =>
      Effect.gen(function*() {
        const a = "203.0.113.1"
        assert.deepStrictEqual(yield* statuses(perMinute, members({ forwardedFor: a })), [200, 200, 200])
        const refused = yield* members({ forwardedFor: a })
        const problem = assertProblem(assert, refused, 429, "over the budget")
        assert.strictEqual(problem["_tag"], "TooManyRequests")
        assert.strictEqual(refused.headers["retry-after"], "20", "one request's worth of the minute")
        // Another client, and the same address guessing tokens, have budgets of their own.
        assert.deepStrictEqual(yield* statuses(perMinute, members({ forwardedFor: "203.0.113.2" })), [200, 200, 200])
        assert.deepStrictEqual(
          yield* statuses(perMinute + 2, members({ forwardedFor: a, token: "a-guess" })),
          [401, 401, 401, 429, 429],
          "guesses are limited before the token is checked"
        )
        assert.strictEqual((yield* members({ forwardedFor: a })).status, 429, "guessing did not refill the partner")
        // The bucket refills over the minute: one request every 20 seconds.
        yield* TestClock.adjust("20 seconds")
        assert.deepStrictEqual(yield* statuses(2, members({ forwardedFor: a })), [200, 429])
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(yield* statuses(perMinute + 1, members({ forwardedFor: a })), [200, 200, 200, 429])
      }))

    it.effect("the client is the first address of X-Forwarded-For; a header that is not an address is ignored", () =>
      Effect.gen(function*() {
        const first = "198.51.100.7"
        const results = [
          ...(yield* statuses(2, members({ forwardedFor: `${first}, 10.0.0.1` }))),
          ...(yield* statuses(2, members({ forwardedFor: `${first}, 10.0.0.2, 10.0.0.3` })))
        ]
        assert.deepStrictEqual(results, [200, 200, 200, 429], "the proxies after the first address do not matter")
        // Not an address: the socket's peer (127.0.0.1) is the client, whatever the header says.
        const peer = [
          ...(yield* statuses(2, members({ forwardedFor: "unknown" }))),
          ...(yield* statuses(2, members({ forwardedFor: "spoofed, 198.51.100.8" })))
        ]
        assert.deepStrictEqual(peer, [200, 200, 200, 429])
        assert.strictEqual((yield* members({ forwardedFor: "::1" })).status, 200, "IPv6 addresses count too")
      }))
  })
})

describe("rate limit without a trusted proxy", () => {
  layer(server(false))((it) => {
    it.effect("X-Forwarded-For is ignored: a client cannot escape its budget by naming other addresses", () =>
      Effect.gen(function*() {
        const results = yield* Effect.forEach(
          Array.from({ length: perMinute + 2 }, (_, i) => `203.0.113.${10 + i}`),
          (forwardedFor) => Effect.map(members({ forwardedFor }), (a) => a.status)
        )
        assert.deepStrictEqual(results, [200, 200, 200, 429, 429])
      }))
  })
})

describe("ApiLimits.layerStoreBounded", () => {
  layer(Layer.empty)((it) => {
    it.effect("forgets every client once it holds more than its bound, so memory stays bounded", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make.pipe(Effect.provide(ApiLimits.layerStoreBounded(3)))
        const consume = (key: string) =>
          limiter.consume({ algorithm: "token-bucket", window: "1 minute", limit: 1, key }).pipe(
            Effect.as("ok" as const),
            Effect.catchAll(() => Effect.succeed("limited" as const))
          )
        assert.deepStrictEqual(yield* Effect.forEach(["a", "a", "b", "c"], consume), ["ok", "limited", "ok", "ok"])
        assert.strictEqual(yield* consume("a"), "limited", "three clients: all remembered")
        assert.strictEqual(yield* consume("d"), "ok", "a fourth: the store starts afresh")
        assert.strictEqual(yield* consume("a"), "ok", "so a is forgotten")
      }))
  })
})
