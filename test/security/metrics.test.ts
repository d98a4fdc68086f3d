/**
 * `/metrics` is safe to expose: a metrics server beyond loopback does not start without a token
 * (`WORKER_METRICS_TOKEN`), a token once set is required on every interface, and a request without the
 * right bearer token gets 401 before any collector (so any store query) runs. Servers here listen on
 * 127.0.0.1 only; the rule for other hosts is checked before anything listens.
 */
import { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { MetricsAccess, WorkerConfig } from "@mx-aggregation/worker"
import { MetricsEndpoint, Observability } from "@mx-aggregation/worker"
import { ConfigProvider, Effect, Either, Exit, Layer, Option, Redacted, Schedule } from "effect"
import { join } from "node:path"
import { freePort } from "../support/freePort.js"
import { tempDir } from "../worker/support/daemonHarness.js"
import * as WorkerProcess from "../worker/support/workerProcess.js"

const token = Redacted.make("metrics-token-9c3e1f7a2b64")

/** The metrics server's URL, and how many scrapes actually ran. */
const metricsServer = Effect.gen(function*() {
  const scrapes = { count: 0 }
  const prometheus = yield* MetricsEndpoint.Prometheus
  yield* prometheus.addCollector(Effect.sync(() => scrapes.count++))
  const { url } = yield* MetricsEndpoint.MetricsServer
  return { url: `${url}/metrics`, scrapes }
})

const serverLayer = (options: { readonly token?: Redacted.Redacted<string> }) =>
  MetricsEndpoint.layerMetricsServer({ port: 0, host: "127.0.0.1", ...options }).pipe(
    Layer.provideMerge(Observability.layer()),
    Layer.provideMerge(NodeHttpClient.layerUndici)
  )

describe("GET /metrics with WORKER_METRICS_TOKEN", () => {
  it.live("refuses every request without the right bearer token, before any scrape runs", () =>
    Effect.gen(function*() {
      const { scrapes, url } = yield* metricsServer
      const client = yield* HttpClient.HttpClient
      const value = Redacted.value(token)
      const refused = [
        undefined,
        "Bearer wrong-token-of-some-length",
        `Bearer ${value.slice(0, -1)}`,
        `Bearer ${value}x`,
        `Bearer ${value.toUpperCase()}`,
        `Basic ${btoa(`prometheus:${value}`)}`,
        value,
        "Bearer ",
        `Bearer  ${value} extra`
      ]
      for (const authorization of refused) {
        const response = yield* client.get(url, authorization === undefined ? {} : { headers: { authorization } })
        assert.strictEqual(response.status, 401, `refused: ${authorization ?? "no header"}`)
        assert.strictEqual(response.headers["www-authenticate"], `Bearer realm="metrics"`)
        assert.strictEqual(yield* response.text, "", "a refusal says nothing of the metrics")
      }
      assert.strictEqual(scrapes.count, 0, "no scrape (no store query) for a refused request")

      for (const authorization of [`Bearer ${value}`, `bearer ${value}`, `Bearer ${value}  `]) {
        const response = yield* client.get(url, { headers: { authorization } })
        assert.strictEqual(response.status, 200, `accepted: ${authorization}`)
        assert.include(yield* response.text, "# TYPE")
      }
      assert.strictEqual(scrapes.count, 3)
    }).pipe(Effect.scoped, Effect.provide(serverLayer({ token }))))

  it.live("a token set is required on loopback too", () =>
    Effect.gen(function*() {
      const { url } = yield* metricsServer
      const response = yield* HttpClient.get(url)
      assert.strictEqual(response.status, 401)
    }).pipe(Effect.scoped, Effect.provide(serverLayer({ token }))))

  it.live("without a token a loopback server answers anyone on the machine", () =>
    Effect.gen(function*() {
      const { url } = yield* metricsServer
      const response = yield* HttpClient.get(url)
      assert.strictEqual(response.status, 200)
    }).pipe(Effect.scoped, Effect.provide(serverLayer({}))))

  it.effect("a server beyond loopback without a token does not start", () =>
    Effect.gen(function*() {
      for (const host of ["0.0.0.0", "::", "192.0.2.10", "metrics.internal"]) {
        const exit = yield* Layer.build(
          MetricsEndpoint.layerMetricsServer({ port: 0, host }).pipe(Layer.provide(Observability.layer()))
        ).pipe(Effect.scoped, Effect.exit)
        assert.isTrue(Exit.isFailure(exit), host)
        if (Exit.isFailure(exit)) {
          assert.include(String(exit.cause), "WORKER_METRICS_TOKEN must be set", host)
          assert.include(String(exit.cause), host)
        }
      }
    }))
})

describe("the daemon's metrics port", () => {
  /** The embedded demo worker (in-process sandbox, SQLite in a temporary directory) with `env`. */
  const daemon = (env: Record<string, string>) =>
    Effect.gen(function*() {
      const dir = yield* tempDir("mx-metrics-daemon-")
      return yield* WorkerProcess.start({
        MX_CLIENT_ID: undefined,
        MX_API_KEY: undefined,
        DATABASE_URL: undefined,
        SQLITE_FILE: join(dir, "worker.db"),
        WORKER_PORT: String(yield* freePort),
        WORKER_HOST: "127.0.0.1",
        WORKER_DEMO_MEMBERS: "1",
        WORKER_LOG_LEVEL: "Warning",
        ...env
      })
    })

  it.live(
    "WORKER_METRICS_TOKEN reaches the daemon's metrics server: 401 without it, 200 with it",
    () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const worker = yield* daemon({ WORKER_METRICS_PORT: String(port), WORKER_METRICS_TOKEN: Redacted.value(token) })
        const url = `http://127.0.0.1:${port}/metrics`
        const refused = yield* HttpClient.get(url).pipe(
          Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))),
          Effect.tapError(() => Effect.sync(() => console.error(worker.output())))
        )
        assert.strictEqual(refused.status, 401)
        const served = yield* HttpClient.get(url, { headers: { authorization: `Bearer ${Redacted.value(token)}` } })
        assert.strictEqual(served.status, 200)
        assert.include(yield* served.text, "mx_aggregation_members_due")
        assert.notInclude(worker.output(), Redacted.value(token), "the token is never printed")
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)),
    90_000
  )

  it.live(
    "a daemon whose metrics would face the network without a token stops at start-up",
    () =>
      Effect.gen(function*() {
        const worker = yield* daemon({
          WORKER_METRICS_PORT: String(yield* freePort),
          WORKER_HOST: "0.0.0.0"
        })
        yield* Effect.sync(() => worker.exited()).pipe(
          Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (exited) => exited }),
          Effect.timeout("60 seconds")
        )
        assert.include(worker.output(), "WORKER_METRICS_TOKEN must be set when metrics listen beyond loopback")
      }).pipe(Effect.scoped),
    90_000
  )
})

describe("MetricsAccess.isLoopback", () => {
  it("knows loopback from every other host", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"]) {
      assert.isTrue(MetricsAccess.isLoopback(host), host)
    }
    for (
      const host of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "::ffff:10.0.0.1", "example.com", "128.0.0.1", ""]
    ) {
      assert.isFalse(MetricsAccess.isLoopback(host), host)
    }
  })
})

describe("WORKER_METRICS_TOKEN in the configuration", () => {
  const parse = (env: Record<string, string>) =>
    Effect.either(Effect.withConfigProvider(WorkerConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it.effect("is required when the metrics listen beyond loopback", () =>
    Effect.gen(function*() {
      for (
        const env of [
          { WORKER_METRICS_PORT: "9464", WORKER_METRICS_HOST: "0.0.0.0" },
          // The metrics follow WORKER_HOST unless WORKER_METRICS_HOST says otherwise.
          { WORKER_METRICS_PORT: "9464", WORKER_HOST: "0.0.0.0" }
        ]
      ) {
        const config = yield* parse(env)
        assert(Either.isLeft(config), JSON.stringify(env))
        assert.include(String(config.left), "WORKER_METRICS_TOKEN must be set when metrics listen beyond loopback")
      }
    }))

  it.effect("is optional on loopback, and without a metrics port", () =>
    Effect.gen(function*() {
      const loopback = yield* parse({ WORKER_METRICS_PORT: "9464" })
      assert(Either.isRight(loopback))
      assert.strictEqual(loopback.right.metricsHost, "127.0.0.1")
      assert.isTrue(Option.isNone(loopback.right.metricsToken))
      const split = yield* parse({ WORKER_METRICS_PORT: "9464", WORKER_HOST: "0.0.0.0", WORKER_METRICS_HOST: "::1" })
      assert(Either.isRight(split))
      assert.strictEqual(split.right.metricsHost, "::1")
      const unserved = yield* parse({ WORKER_HOST: "0.0.0.0" })
      assert(Either.isRight(unserved))
    }))

  it.effect("is kept Redacted, and a short one is refused without being printed", () =>
    Effect.gen(function*() {
      const value = Redacted.value(token)
      const config = yield* parse({
        WORKER_METRICS_PORT: "9464",
        WORKER_METRICS_HOST: "0.0.0.0",
        WORKER_METRICS_TOKEN: value
      })
      assert(Either.isRight(config))
      const parsed = Option.getOrThrow(config.right.metricsToken)
      assert.isTrue(Redacted.isRedacted(parsed))
      assert.strictEqual(Redacted.value(parsed), value)
      assert.notInclude(JSON.stringify(config.right), value)

      const short = yield* parse({ WORKER_METRICS_PORT: "9464", WORKER_METRICS_TOKEN: "short-tok3n" })
      assert(Either.isLeft(short))
      assert.include(String(short.left), "WORKER_METRICS_TOKEN must be at least 16 characters")
      assert.notInclude(String(short.left), "short-tok3n")
    }))
})
