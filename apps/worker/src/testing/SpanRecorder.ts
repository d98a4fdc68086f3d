/**
 * Spans recorded in memory, for tests: pass `recorder.processor` to
 * `Observability.layer({ spanProcessors: [...] })` and read `recorder.spans()`. No exporter reaches
 * the network.
 *
 * @since 0.1.0
 */
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"

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
 * A new in-memory span recorder for `Observability.layer({ spanProcessors: [recorder.processor] })`.
 *
 * @since 0.1.0
 * @category traces
 */
export const make = (): SpanRecorder => {
  const exporter = new KeepingSpanExporter()
  return { processor: new SimpleSpanProcessor(exporter), spans: () => exporter.getFinishedSpans() }
}
