/**
 * Traces of the worker: every Effect span (workflows, activities, MX calls, HTTP, SQL) as an
 * OpenTelemetry span, batched to an OTLP/HTTP collector when one is configured. Without a collector
 * or span processors no OpenTelemetry tracer is installed at all.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Layer } from "effect"

/**
 * Options of `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * An OTLP/HTTP collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://localhost:4318`):
   * traces are batched to `<endpoint>/v1/traces`.
   */
  readonly otlpEndpoint?: string | undefined
  /** More span processors (tests: a span recorder of `@mx-aggregation/worker/testing`). */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
}

/**
 * The OTLP/HTTP trace URL of a collector's base URL.
 *
 * @since 0.1.0
 * @category traces
 */
export const tracesUrl = (otlpEndpoint: string): string => `${otlpEndpoint.replace(/\/+$/, "")}/v1/traces`

/**
 * An OpenTelemetry tracer for every Effect span, with the given processors and, when an OTLP endpoint
 * is given, a batching exporter to it; nothing at all without either.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, never, Resource.Resource> => {
  const processors: Array<SpanProcessor> = [...(options.spanProcessors ?? [])]
  if (options.otlpEndpoint !== undefined && options.otlpEndpoint.length > 0) {
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(options.otlpEndpoint) })))
  }
  const [first, ...rest] = processors
  return first === undefined
    ? Layer.empty
    : OtelTracer.layer.pipe(Layer.provide(NodeSdk.layerTracerProvider([first, ...rest])))
}
