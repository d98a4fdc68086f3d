/**
 * Observability of the worker, composed: the Prometheus exposition of the process's metrics
 * (`MetricsEndpoint`) and, when a collector or span processors are given, the tracer (`Tracing`),
 * both under one OpenTelemetry resource (`service.name`, `OTEL_RESOURCE_ATTRIBUTES`). Logs are
 * `Logging`'s; the backlog gauges `StoreGauges`'. Secrets are `Redacted` and print as `<redacted>` in
 * metrics, traces and logs.
 *
 * @since 0.1.0
 */
import * as Resource from "@effect/opentelemetry/Resource"
import { Config, Effect, Layer, Option } from "effect"
import * as MetricsEndpoint from "./MetricsEndpoint.js"
import * as Tracing from "./Tracing.js"

/**
 * Options of `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Tracing.Options {
  /** `service.name` of metrics and traces, unless `OTEL_SERVICE_NAME` is set. Default `mx-aggregation-worker`. */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
}

/**
 * Metrics for Prometheus (the `MetricsEndpoint.Prometheus` service) and, when an OTLP endpoint or
 * span processors are given, an OpenTelemetry tracer for every Effect span (workflows, activities, MX
 * calls, HTTP). Provide it beneath the worker (`Layer.provide`), so that the tracer is in place before
 * the worker's fibers start.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<MetricsEndpoint.Prometheus> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const envServiceName = yield* Config.option(Config.nonEmptyString("OTEL_SERVICE_NAME")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const resource = Resource.layerFromEnv({
      ...(Option.isNone(envServiceName) ? { "service.name": options.serviceName ?? "mx-aggregation-worker" } : {}),
      ...(options.serviceVersion === undefined ? {} : { "service.version": options.serviceVersion })
    })
    return Layer.mergeAll(MetricsEndpoint.layer, Tracing.layer(options)).pipe(Layer.provide(resource))
  }))

/**
 * `layer` configured from the environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (traces exported only when
 * set), `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Omit<Options, "otlpEndpoint"> = {}): Layer.Layer<MetricsEndpoint.Prometheus> =>
  Layer.unwrapEffect(
    Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
      Effect.orElseSucceed(() => Option.none<string>()),
      Effect.map((endpoint) => layer({ ...options, otlpEndpoint: Option.getOrUndefined(endpoint) }))
    )
  )
