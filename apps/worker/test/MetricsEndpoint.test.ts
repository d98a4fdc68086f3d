/**
 * The metrics endpoint: the Prometheus text (parsed strictly by the testing entry point's parser) on
 * a metrics server, behind a token, and on an HttpApi router beside its endpoints.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Metrics, MetricsEndpoint, Observability } from "@mx-aggregation/worker"
import { PrometheusText } from "@mx-aggregation/worker/testing"
import { Effect, Either, Layer, Redacted, Schema } from "effect"
import { createServer } from "node:http"

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
    for (const text of bad) assert.isTrue(Either.isLeft(PrometheusText.parse(text)), text)
    const good = PrometheusText.parse(
      "# HELP x_total some help\n# TYPE x_total counter\nx_total{a=\"q\\\"uote\",b=\"2\"} 3 1700000000\n" +
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3.5\n"
    )
    assert.isTrue(Either.isRight(good))
    if (Either.isRight(good)) {
      assert.strictEqual(PrometheusText.sumOf(good.right, "x_total", { a: "q\"uote" }), 3)
      assert.strictEqual(PrometheusText.sumOf(good.right, "h_sum"), 3.5)
    }
  })

  it.live("a metrics server answers GET /metrics, behind a token when one is set, and 404 elsewhere", () =>
    Effect.gen(function*() {
      const token = Redacted.make("metrics-token-5b2f")
      const { url } = yield* MetricsEndpoint.MetricsServer
      const client = yield* HttpClient.HttpClient
      yield* Metrics.runStarted("Manual")
      const unauthorized = yield* client.get(`${url}/metrics`)
      assert.strictEqual(unauthorized.status, 401)
      const wrong = yield* client.get(`${url}/metrics`, { headers: { authorization: "Bearer nope" } })
      assert.strictEqual(wrong.status, 401)
      const ok = yield* client.get(`${url}/metrics`, { headers: { authorization: `Bearer ${Redacted.value(token)}` } })
      assert.strictEqual(ok.status, 200)
      assert.match(ok.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/)
      const parsed = PrometheusText.parse(yield* ok.text)
      assert.isTrue(Either.isRight(parsed))
      if (Either.isRight(parsed)) {
        assert.isAtLeast(
          PrometheusText.sumOf(parsed.right, "mx_aggregation_runs_started_total", { trigger: "Manual" }),
          1
        )
      }
      const other = yield* client.get(`${url}/other`)
      assert.strictEqual(other.status, 404)
    }).pipe(
      Effect.provide(
        MetricsEndpoint.layerMetricsServer({ port: 0, host: "127.0.0.1", token: Redacted.make("metrics-token-5b2f") })
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
      Layer.provide(MetricsEndpoint.layerMetricsRoute()),
      Layer.provide(ApiLive),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    )
    return Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address as HttpServer.TcpAddress
      const client = yield* HttpClient.HttpClient
      const base = `http://127.0.0.1:${address.port}`
      const metrics = yield* client.get(`${base}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.isTrue(Either.isRight(PrometheusText.parse(yield* metrics.text)))
      const health = yield* client.get(`${base}/health`)
      assert.strictEqual(health.status, 200)
    }).pipe(
      Effect.provide(server.pipe(Layer.provide(Observability.layer()), Layer.provideMerge(NodeHttpClient.layerUndici)))
    )
  })
})
