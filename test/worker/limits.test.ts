/**
 * The control API's limits: body size, per-client rate limit (which also throttles token guessing),
 * request timeout; the token never appears in logs.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { ControlApiLive } from "@mx-aggregation/worker"
import { Effect, Redacted } from "effect"
import { harness, newMember, token } from "./harness.js"

const baseUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
)

describe("control API limits", () => {
  layer(harness({ limits: { maxBodyBytes: 1024, requestTimeout: "5 seconds", requestsPerMinute: 30 } }), {
    excludeTestServices: true
  })((it) => {
    it.effect("a body over the limit gets 413; guessing tokens is rate-limited to 429", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const http = yield* HttpClient.HttpClient
        const big = JSON.stringify({ answers: [{ guid: "CRD-1", value: "x".repeat(4096) }] })
        const tooLarge = yield* http.execute(
          HttpClientRequest.post(`${base}/members/MBR-1/challenges/answers`).pipe(
            HttpClientRequest.bodyText(big, "application/json"),
            HttpClientRequest.bearerToken(Redacted.value(token))
          )
        )
        assert.strictEqual(tooLarge.status, 413)
        const statuses: Array<number> = []
        for (let i = 0; i < 40; i++) {
          const guess = yield* http.execute(
            HttpClientRequest.get(`${base}/members`).pipe(HttpClientRequest.bearerToken(`guess-${i}`))
          )
          statuses.push(guess.status)
        }
        assert.include(statuses, 401)
        assert.include(statuses, 429, "guesses beyond 30 a minute are refused before the token is checked")
        assert.isAtMost(statuses.filter((s) => s === 401).length, 30)
      }))
  })

  layer(
    harness({
      limits: { ...ControlApiLive.defaultLimits, requestTimeout: "300 millis" },
      sandbox: { faults: { latency: "2 seconds" } }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("a request that takes too long (MX answering slowly) gets 503, and the server goes on", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const http = yield* HttpClient.HttpClient
        const { memberGuid } = yield* newMember("password")
        const slow = yield* http.execute(
          HttpClientRequest.get(`${base}/members/${memberGuid}/credentials`).pipe(
            HttpClientRequest.bearerToken(Redacted.value(token))
          )
        )
        assert.strictEqual(slow.status, 503)
        assert.include(yield* slow.text, "too long")
        const health = yield* http.execute(HttpClientRequest.get(`${base}/health`))
        assert.strictEqual(health.status, 200)
      }))
  })
})

describe("token comparison", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("matches only the exact token, whatever the length", () =>
      Effect.sync(() => {
        const expected = Redacted.make("abcdef")
        assert.isTrue(ControlApiLive.tokenMatches(expected, Redacted.make("abcdef")))
        for (const given of ["", "abcde", "abcdefg", "abcdeF", "xbcdef"]) {
          assert.isFalse(ControlApiLive.tokenMatches(expected, Redacted.make(given)), given)
        }
      }))
  })
})
