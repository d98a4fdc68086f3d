/**
 * Observability of the worker: the Effect metrics of `Metrics` exported through @effect/opentelemetry
 * as Prometheus text (`GET /metrics`, on the control API or on a port of its own), traces of every
 * workflow, activity and MX call sent to an OTLP collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
 * and structured logs (JSON when stdout is not a terminal). Secrets are `Redacted` and print as
 * `<redacted>` in all three.
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Resource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import {
  HttpApiBuilder,
  type HttpApp,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import type { AggregationRuns, PendingChallenges, TrackedMembers } from "@mx-aggregation/store"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import {
  Config,
  ConfigError,
  Context,
  Data,
  Effect,
  Either,
  FiberRef,
  HashSet,
  Layer,
  Logger,
  LogLevel,
  Option,
  type Redacted,
  type Scope
} from "effect"
import { EngineConfig } from "./EngineConfig.js"
import * as Listener from "./Listener.js"
import * as Metrics from "./Metrics.js"
import * as MetricsAccess from "./MetricsAccess.js"
import * as MxTime from "./MxTime.js"

// Prometheus

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

/**
 * Refreshes the backlog gauges of `Metrics.refreshStoreGauges` from the store before every scrape,
 * on the engine's MX clock (so that "due" means what the scheduler means).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreGauges: Layer.Layer<
  never,
  never,
  | Prometheus
  | EngineConfig
  | TrackedMembers.TrackedMembers
  | AggregationRuns.AggregationRuns
  | PendingChallenges.PendingChallenges
> = Layer.scopedDiscard(Effect.gen(function*() {
  const prometheus = yield* Prometheus
  const config = yield* EngineConfig
  const context = yield* Effect.context<
    TrackedMembers.TrackedMembers | AggregationRuns.AggregationRuns | PendingChallenges.PendingChallenges
  >()
  yield* prometheus.addCollector(
    Metrics.refreshStoreGauges.pipe(MxTime.within(config.mxClock), Effect.provide(context))
  )
}))

// Traces

/**
 * Records finished spans in memory, for tests (no exporter reaches the network).
 *
 * @since 0.1.0
 * @category traces
 */
export interface SpanRecorder {
  readonly processor: SpanProcessor
  /** The spans finished so far. */
  readonly spans: () => ReadonlyArray<ReadableSpan>
}

/** An in-memory exporter that keeps its spans when the tracer provider shuts down (the SDK's one forgets them). */
class KeepingSpanExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/**
 * A new in-memory span recorder for `layer({ spanProcessors: [recorder.processor] })`.
 *
 * @since 0.1.0
 * @category traces
 */
export const makeSpanRecorder = (): SpanRecorder => {
  const exporter = new KeepingSpanExporter()
  return { processor: new SimpleSpanProcessor(exporter), spans: () => exporter.getFinishedSpans() }
}

// Layers

/**
 * Options of `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `service.name` of metrics and traces, unless `OTEL_SERVICE_NAME` is set. Default `mx-aggregation-worker`. */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /**
   * An OTLP/HTTP collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://localhost:4318`):
   * traces are batched to `<endpoint>/v1/traces`. Without it (and without `spanProcessors`) no
   * OpenTelemetry tracer is installed.
   */
  readonly otlpEndpoint?: string | undefined
  /** More span processors (tests: `makeSpanRecorder().processor`). */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
}

/**
 * Metrics for Prometheus (the `Prometheus` service) and, when an OTLP endpoint or span processors
 * are given, an OpenTelemetry tracer for every Effect span (workflows, activities, MX calls, HTTP).
 * Provide it beneath the worker (`Layer.provide`), so that the tracer is in place before the worker's
 * fibers start.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Prometheus> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const envServiceName = yield* Config.option(Config.nonEmptyString("OTEL_SERVICE_NAME")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const resource = Resource.layerFromEnv({
      ...(Option.isNone(envServiceName) ? { "service.name": options.serviceName ?? "mx-aggregation-worker" } : {}),
      ...(options.serviceVersion === undefined ? {} : { "service.version": options.serviceVersion })
    })
    const processors: Array<SpanProcessor> = [...(options.spanProcessors ?? [])]
    if (options.otlpEndpoint !== undefined && options.otlpEndpoint.length > 0) {
      const url = `${options.otlpEndpoint.replace(/\/+$/, "")}/v1/traces`
      processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })))
    }
    const [first, ...rest] = processors
    const tracing = first === undefined
      ? Layer.empty
      : OtelTracer.layer.pipe(Layer.provide(NodeSdk.layerTracerProvider([first, ...rest])))
    return Layer.mergeAll(Layer.scoped(Prometheus, makePrometheus), tracing).pipe(Layer.provide(resource))
  }))

/**
 * `layer` configured from the environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (traces exported only when
 * set), `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Omit<Options, "otlpEndpoint"> = {}): Layer.Layer<Prometheus> =>
  Layer.unwrapEffect(
    Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
      Effect.orElseSucceed(() => Option.none<string>()),
      Effect.map((endpoint) => layer({ ...options, otlpEndpoint: Option.getOrUndefined(endpoint) }))
    )
  )

// Logs

/**
 * The log format: `json` (one JSON object per line, with annotations such as `memberGuid` and the
 * spans), `pretty` (for a terminal), or `auto` (pretty on a terminal, JSON otherwise).
 *
 * @since 0.1.0
 * @category logs
 */
export type LogFormat = "json" | "pretty" | "auto"

/**
 * The logger of a format. `Redacted` values print as `<redacted>` in both formats.
 *
 * @since 0.1.0
 * @category logs
 */
export const logger = (format: LogFormat = "auto"): Logger.Logger<unknown, void> =>
  (format === "auto" ? process.stdout.isTTY === true : format === "pretty")
    ? Logger.prettyLogger()
    : Logger.withConsoleLog(Logger.jsonLogger)

/**
 * Replaces the default logger: pretty on a terminal, JSON otherwise (or as asked). It also removes
 * the pretty logger that `NodeRuntime.runMain` installs, so that each line is printed once.
 *
 * @since 0.1.0
 * @category logs
 */
export const loggerLayer = (format: LogFormat = "auto"): Layer.Layer<never> => {
  const chosen = logger(format)
  return Layer.scopedDiscard(
    Effect.locallyScopedWith(
      FiberRef.currentLoggers,
      (loggers) =>
        loggers.pipe(
          HashSet.remove(Logger.defaultLogger),
          HashSet.remove(Logger.prettyLoggerDefault),
          HashSet.add(chosen)
        )
    )
  )
}

const logLevels = LogLevel.allLevels.map((l) => l.label)

/**
 * `WORKER_LOG_LEVEL`: one of Effect's levels (`Debug`, `Info`, `Warn` or `Warning`, `Error`…), in any
 * case.
 *
 * @since 0.1.0
 * @category logs
 */
export const logLevelConfig: Config.Config<LogLevel.LogLevel> = Config.string("WORKER_LOG_LEVEL").pipe(
  Config.mapOrFail((raw) => {
    const label = raw.trim().toUpperCase()
    const level = LogLevel.allLevels.find((l) => l.label === (label === "WARNING" ? "WARN" : label))
    return level === undefined
      ? Either.left(
        ConfigError.InvalidData([], `WORKER_LOG_LEVEL must be one of ${logLevels.join(", ")} (got "${raw}")`)
      )
      : Either.right(level)
  })
)

/**
 * `loggerLayer` from `WORKER_LOG_FORMAT` (`json`, `pretty`, `auto`; default `auto`) and
 * `WORKER_LOG_LEVEL` (`Debug`, `Info`, `Warning`, `Error`…; default `Info`).
 *
 * @since 0.1.0
 * @category logs
 */
export const loggerLayerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const format = yield* Config.literal("json", "pretty", "auto")("WORKER_LOG_FORMAT").pipe(
      Config.withDefault("auto" as const)
    )
    const level = yield* logLevelConfig.pipe(Config.option)
    return Layer.mergeAll(
      loggerLayer(format),
      Option.match(level, { onNone: () => Layer.empty, onSome: Logger.minimumLogLevel })
    )
  })
)

// Reading the Prometheus text

/**
 * A sample of the Prometheus text: one line `name{labels} value`.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/**
 * A parsed Prometheus exposition: the metric families declared by `# TYPE` and the samples.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
}

/**
 * The Prometheus text is malformed at `line`.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export class PrometheusTextError extends Data.TaggedError("PrometheusTextError")<{
  readonly line: number
  readonly message: string
}> {}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const metricTypes = new Set([
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
  "info",
  "stateset",
  "gaugehistogram"
])

const parseValue = (text: string): number | undefined => {
  if (text === "+Inf" || text === "Inf") return Infinity
  if (text === "-Inf") return -Infinity
  if (text === "NaN") return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined
  return Number(text)
}

/** Parses `{a="x",b="y"}` from `start` (at `{`); returns the labels and the index after `}`. */
const parseLabels = (line: string, start: number): { labels: Record<string, string>; end: number } | string => {
  const labels: Record<string, string> = {}
  let i = start + 1
  while (true) {
    while (line[i] === " ") i++
    if (line[i] === "}") return { labels, end: i + 1 }
    const eq = line.indexOf("=", i)
    if (eq < 0) return "a label without `=`"
    const name = line.slice(i, eq).trim()
    if (!labelName.test(name)) return `invalid label name ${JSON.stringify(name)}`
    if (line[eq + 1] !== "\"") return `the value of label ${name} is not quoted`
    let value = ""
    let j = eq + 2
    for (; j < line.length && line[j] !== "\""; j++) {
      if (line[j] === "\\") {
        const next = line[++j]
        value += next === "n" ? "\n" : next ?? ""
      } else {
        value += line[j]
      }
    }
    if (j >= line.length) return `the value of label ${name} is not terminated`
    if (name in labels) return `label ${name} repeated`
    labels[name] = value
    i = j + 1
    if (line[i] === ",") i++
    else if (line[i] !== "}") return `unexpected ${JSON.stringify(line[i] ?? "end of line")} after label ${name}`
  }
}

const familyOf = (name: string, types: ReadonlyMap<string, string>): string | undefined => {
  if (types.has(name)) return name
  for (const suffix of ["_bucket", "_sum", "_count", "_total", "_created", "_info"]) {
    if (name.endsWith(suffix) && types.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length)
  }
  return undefined
}

/**
 * Parses Prometheus' text format (0.0.4) strictly: every sample belongs to a family declared by a
 * `# TYPE` line, names and labels are well formed, values are numbers, and histogram buckets are
 * cumulative with a `+Inf` bucket equal to `_count`.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export const parsePrometheus = (text: string): Either.Either<Exposition, PrometheusTextError> => {
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  const lines = text.split("\n")
  for (let index = 0; index < lines.length; index++) {
    const fail = (message: string) => Either.left(new PrometheusTextError({ line: index + 1, message }))
    const line = lines[index]!.trim()
    if (line === "") continue
    if (line.startsWith("#")) {
      const [, keyword, name, ...rest] = line.split(/\s+/)
      if (keyword === "TYPE") {
        if (name === undefined || !metricName.test(name)) return fail(`invalid metric name in TYPE`)
        const type = rest[0]
        if (type === undefined || !metricTypes.has(type)) return fail(`unknown metric type ${type}`)
        if (types.has(name)) return fail(`TYPE of ${name} declared twice`)
        types.set(name, type)
      } else if ((keyword === "HELP" || keyword === "UNIT") && (name === undefined || !metricName.test(name))) {
        return fail(`invalid metric name in ${keyword}`)
      }
      continue
    }
    const brace = line.indexOf("{")
    const space = line.indexOf(" ")
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space
    if (nameEnd <= 0) return fail("a sample without a value")
    const name = line.slice(0, nameEnd)
    if (!metricName.test(name)) return fail(`invalid metric name ${JSON.stringify(name)}`)
    let labels: Record<string, string> = {}
    let rest = line.slice(nameEnd)
    if (line[nameEnd] === "{") {
      const parsed = parseLabels(line, nameEnd)
      if (typeof parsed === "string") return fail(parsed)
      labels = parsed.labels
      rest = line.slice(parsed.end)
    }
    const [valueText, timestamp, ...extra] = rest.trim().split(/\s+/)
    const value = valueText === undefined ? undefined : parseValue(valueText)
    if (value === undefined) return fail(`invalid value ${JSON.stringify(valueText)} of ${name}`)
    if (extra.length > 0 || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) {
      return fail(`unexpected text after the value of ${name}`)
    }
    if (familyOf(name, types) === undefined) return fail(`sample ${name} has no TYPE`)
    samples.push({ name, labels, value })
  }
  // Histogram buckets: cumulative, ending with +Inf = _count.
  for (const [family, type] of types) {
    if (type !== "histogram") continue
    const series = new Map<string, Array<Sample>>()
    for (const sample of samples) {
      if (sample.name !== `${family}_bucket`) continue
      const { le: _le, ...rest } = sample.labels
      const key = JSON.stringify(Object.entries(rest).sort())
      series.set(key, [...(series.get(key) ?? []), sample])
    }
    for (const [key, buckets] of series) {
      const sorted = [...buckets].sort((a, b) => parseValue(a.labels["le"] ?? "")! - parseValue(b.labels["le"] ?? "")!)
      const fail = (message: string) => Either.left(new PrometheusTextError({ line: 0, message }))
      if (sorted.some((b, i) => i > 0 && b.value < sorted[i - 1]!.value)) {
        return fail(`${family} buckets not cumulative`)
      }
      const inf = sorted[sorted.length - 1]
      if (inf?.labels["le"] !== "+Inf") return fail(`${family} has no +Inf bucket`)
      const count = samples.find((s) =>
        s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key
      )
      if (count === undefined || count.value !== inf.value) return fail(`${family}_count differs from its +Inf bucket`)
    }
  }
  return Either.right({ types, samples })
}

/**
 * The sum of the samples named `name` whose labels include `labels` (0 when there is none).
 *
 * @since 0.1.0
 * @category prometheus text
 */
export const sumOf = (
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number =>
  exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0)
