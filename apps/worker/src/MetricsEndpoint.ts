/**
 * The worker's metrics endpoint: the Effect metrics of the process (the worker's `Metrics`, the MX
 * client's `CallMetrics`, `StoreGauges`, Effect's runtime metrics) exported through
 * @effect/opentelemetry as Prometheus text, served at `GET /metrics` on the control API or on a port
 * of its own, optionally behind a bearer token.
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import type * as Resource from "@effect/opentelemetry/Resource"
import {
  HttpApiBuilder,
  type HttpApp,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { Context, Effect, Layer, type Redacted, type Scope } from "effect"
import * as Listener from "./Listener.js"
import * as MetricsAccess from "./MetricsAccess.js"

/**
 * The Prometheus exposition of the process's metrics.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrometheusService {
  /** The current metrics as Prometheus text (format 0.0.4), after running the collectors. */
  readonly scrape: Effect.Effect<string>
  /**
   * Adds an effect run before every scrape (to refresh gauges read from elsewhere, e.g. the store),
   * for the lifetime of the scope. Its failures are logged; the scrape goes on.
   */
  readonly addCollector: (collect: Effect.Effect<void, unknown>) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Prometheus extends Context.Tag("@mx-aggregation/worker/Prometheus")<Prometheus, PrometheusService>() {}

/** The media type of Prometheus' text format. */
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

const makePrometheus = Effect.gen(function*() {
  // The exporter serves nothing itself (`preventServerStart`): the worker's own HTTP server does.
  const exporter = new PrometheusExporter({ preventServerStart: true })
  // Without the `otel_scope_name` label that every series would otherwise carry.
  const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
  const producer = yield* OtelMetrics.makeProducer
  yield* OtelMetrics.registerProducer(producer, () => exporter)
  const collectors = new Set<Effect.Effect<void, unknown>>()
  const runCollectors = Effect.forEach(
    collectors,
    (collect) => collect.pipe(Effect.catchAllCause((cause) => Effect.logWarning("metrics collector failed", cause))),
    { discard: true }
  )
  return Prometheus.of({
    scrape: Effect.zipRight(
      runCollectors,
      Effect.promise(() => exporter.collect()).pipe(
        Effect.tap(({ errors }) =>
          errors.length > 0 ? Effect.logWarning("metrics collection errors", ...errors) : Effect.void
        ),
        Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
      )
    ),
    addCollector: (collect) =>
      Effect.acquireRelease(
        Effect.sync(() => collectors.add(collect)),
        () => Effect.sync(() => collectors.delete(collect))
      ).pipe(Effect.asVoid)
  })
})

/**
 * The `Prometheus` service over the process's metric registry, for the lifetime of the layer. It
 * needs the OpenTelemetry `Resource` (the service name of `target_info`): `Observability.layer` gives
 * it both.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Prometheus, never, Resource.Resource> = Layer.scoped(Prometheus, makePrometheus)

/**
 * `GET /metrics` as an HTTP app: the Prometheus text of `Prometheus`.
 *
 * @since 0.1.0
 * @category http
 */
export const metricsResponse: Effect.Effect<HttpServerResponse.HttpServerResponse, never, Prometheus> = Effect
  .flatMap(Prometheus, (prometheus) => prometheus.scrape).pipe(
    Effect.map((text) => HttpServerResponse.text(text, { contentType: prometheusContentType }))
  )

/**
 * The metrics endpoint as an HTTP app, optionally behind a bearer token (Prometheus'
 * `authorization: { credentials: … }`, see `MetricsAccess.bearerMatches`): without it, 401 and no
 * scrape (so no query reaches the store).
 *
 * @since 0.1.0
 * @category http
 */
export const metricsApp = (
  options: { readonly token?: Redacted.Redacted<string> | undefined } = {}
): Effect.Effect<HttpApp.Default<never, never>, never, Prometheus> =>
  Effect.map(Prometheus, (prometheus) => {
    const authorized = options.token === undefined ? () => true : MetricsAccess.bearerMatches(options.token)
    const response = Effect.provideService(metricsResponse, Prometheus, prometheus)
    const unauthorized = HttpServerResponse.empty({
      status: 401,
      headers: { "www-authenticate": `Bearer realm="metrics"` }
    })
    return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      authorized(request.headers["authorization"]) ? response : Effect.succeed(unauthorized))
  })

/**
 * Mounts `GET /metrics` on the control API's router (`HttpApiBuilder.Router`): merge it next to
 * the API's handlers, before `HttpApiBuilder.serve`. Pass the control token to require it.
 *
 * @since 0.1.0
 * @category http
 */
export const layerMetricsRoute = (
  options: { readonly path?: `/${string}`; readonly token?: Redacted.Redacted<string> | undefined } = {}
): Layer.Layer<never, never, Prometheus> =>
  HttpApiBuilder.Router.use((router) =>
    Effect.flatMap(metricsApp(options), (app) => router.get(options.path ?? "/metrics", app))
  )

/**
 * Where the metrics server listens.
 *
 * @since 0.1.0
 * @category tags
 */
export class MetricsServer extends Context.Tag("@mx-aggregation/worker/MetricsServer")<
  MetricsServer,
  { readonly url: string; readonly port: number }
>() {}

/**
 * A separate HTTP server (e.g. on `WORKER_METRICS_PORT`) answering `GET /metrics` and 404 to
 * anything else. It does not put its `HttpServer` in the context, so it sits beside the control API.
 * Port 0 picks a free port (read it from `MetricsServer`). It listens on loopback (`127.0.0.1`)
 * unless told otherwise, and refuses to start on any other host without a token
 * (`MetricsAccess.MetricsTokenRequired`); with a token, every request must carry it.
 *
 * @since 0.1.0
 * @category http
 */
export const layerMetricsServer = (options: {
  readonly port: number
  readonly host?: string | undefined
  readonly token?: Redacted.Redacted<string> | undefined
}): Layer.Layer<MetricsServer, MetricsAccess.MetricsTokenRequired, Prometheus> => {
  const host = options.host ?? "127.0.0.1"
  const exposed = MetricsAccess.checkExposure(host, options.token)
  // Checked before anything listens: an exposed endpoint never serves a single scrape.
  return exposed !== undefined ? Layer.fail(exposed) : Layer.scoped(
    MetricsServer,
    Effect.gen(function*() {
      const app = yield* metricsApp(options)
      const router = HttpRouter.empty.pipe(HttpRouter.get("/metrics", app))
      yield* HttpServer.serveEffect(router)
      const server = yield* HttpServer.HttpServer
      const address = server.address as HttpServer.TcpAddress
      const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
      yield* Effect.logInfo(`metrics on http://${host}:${address.port}/metrics`)
      return { url: `http://${host}:${address.port}`, port: address.port }
    })
  ).pipe(
    // A failure to listen (port taken) is a defect of the configuration: stop start-up with it.
    Layer.provide(Layer.orDie(Listener.layer({ port: options.port, host })))
  )
}
