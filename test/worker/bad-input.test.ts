/**
 * Bad input never crashes the worker: invalid configuration stops start-up with a message naming the
 * variable; invalid control-API bodies get a 400 with a message and the server keeps serving.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { assert, describe, it, layer } from "@effect/vitest"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { TrackedMembers } from "@mx-aggregation/store"
import { WorkerConfig } from "@mx-aggregation/worker"
import { Aggregations } from "@mx-aggregation/worker"
import { ConfigProvider, Effect, Either, Option, Redacted } from "effect"
import { ended, harness, newMember, token } from "./harness.js"

const parse = (env: Record<string, string>) =>
  Effect.either(Effect.withConfigProvider(WorkerConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("worker configuration", () => {
  it.effect("defaults make the embedded mode work with nothing set", () =>
    Effect.gen(function*() {
      const config = yield* parse({})
      assert(Either.isRight(config))
      assert.strictEqual(config.right.port, 8787)
      assert.strictEqual(config.right.timeScale, 1)
    }))

  for (
    const [name, value] of [
      ["WORKER_PORT", "eighty"],
      ["WORKER_PORT", "70000"],
      ["WORKER_MFA_TIMEOUT", "soon"],
      ["WORKER_MAX_CONCURRENT_RUNS", "0"],
      ["WORKER_TIME_SCALE", "0.5"],
      ["WORKER_TRUST_PROXY", "maybe"]
    ] as const
  ) {
    it.effect(`an invalid ${name} (${value}) is refused with a message naming it`, () =>
      Effect.gen(function*() {
        const config = yield* parse({ [name]: value })
        assert(Either.isLeft(config))
        assert.include(String(config.left), name)
      }))
  }
})

describe("control API input", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("malformed bodies get 400 with a message, missing tokens 401, and the server keeps serving", () =>
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        const base = `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
        const client = yield* HttpClient.HttpClient
        const post = (path: string, body: string, auth = true) =>
          client.execute(
            HttpClientRequest.post(`${base}${path}`).pipe(
              HttpClientRequest.bodyText(body, "application/json"),
              auth ? HttpClientRequest.bearerToken(Redacted.value(token)) : (r) => r
            )
          ).pipe(Effect.flatMap((r) => Effect.map(r.text, (text) => ({ status: r.status, text }))))
        const { memberGuid } = yield* newMember("challenge")
        const bodies = ["{", "[]", "{\"answers\": 3}", "{\"answers\": []}", "{\"answers\": [{\"guid\": 1}]}", "null"]
        for (const body of bodies) {
          const response = yield* post(`/members/${memberGuid}/challenges/answers`, body)
          assert.strictEqual(response.status, 400, `${body} -> ${response.text}`)
          assert.isAbove(response.text.length, 0)
        }
        const unauthorized = yield* post(`/members/${memberGuid}/challenges/answers`, "{}", false)
        assert.strictEqual(unauthorized.status, 401)
        const wrong = yield* client.execute(
          HttpClientRequest.get(`${base}/members`).pipe(HttpClientRequest.bearerToken("not-the-token"))
        )
        assert.strictEqual(wrong.status, 401)
        // Still serving, and still working.
        const health = yield* client.execute(HttpClientRequest.get(`${base}/health`))
        assert.strictEqual(health.status, 200)
        const aggregations = yield* Aggregations.Aggregations
        const ok = yield* newMember("password")
        const started = yield* aggregations.start(ok.memberGuid, "Scheduled")
        if (started._tag !== "Started") return assert.fail("not started")
        const { run } = yield* ended(started.runId)
        assert.strictEqual(run.outcome, "connected")
      }))
  })
})

describe("malformed MX responses", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("fail that run with the reason recorded; the worker keeps serving and the next run succeeds", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const aggregations = yield* Aggregations.Aggregations
        yield* sandbox.setFaults({ malformedBodies: { byOperation: { readMemberStatus: 1 } } })
        const broken = yield* newMember("password")
        const first = yield* aggregations.start(broken.memberGuid, "Scheduled")
        if (first._tag !== "Started") return assert.fail("not started")
        const { run } = yield* ended(first.runId)
        assert.strictEqual(run.outcome, "failed")
        assert.include(run.failureReason ?? "", "Decode")
        assert.include(run.failureReason ?? "", "readMemberStatus")
        assert.isAbove((yield* sandbox.stats).malformedBodies, 0)
        // A failed run is retried later, like provider trouble: the member is due again.
        const tracked = yield* Effect.flatMap(TrackedMembers.TrackedMembers, (t) => t.get(broken.memberGuid))
        assert.isNotNull(Option.getOrThrow(tracked).nextDueAt)

        yield* sandbox.setFaults({})
        const again = yield* aggregations.start(broken.memberGuid, "Manual")
        if (again._tag !== "Started") return assert.fail("not started")
        assert.strictEqual((yield* ended(again.runId)).run.outcome, "connected")
      }))
  })
})
