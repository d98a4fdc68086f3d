/**
 * Traces: MX calls as OpenTelemetry spans (recorded in memory), spans sent over OTLP/HTTP to a
 * collector on 127.0.0.1, and no OpenTelemetry tracer without either.
 */
import { HttpClient, type HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Observability } from "@mx-aggregation/worker"
import { SpanRecorder } from "@mx-aggregation/worker/testing"
import { Effect, Layer, Redacted } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

const apiKey = Redacted.make("api-key-Obs-7c1e55d0")

/** An HttpClient answering each request with the next of `answers` (status, body), recording the requests. */
const fakeMx = (answers: Array<readonly [number, unknown]>) => {
  const requests: Array<HttpClientRequest.HttpClientRequest> = []
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      requests.push(request)
      const [status, body] = answers.shift() ?? [500, { error: "no more answers" }]
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(body), {
          status,
          headers: { "content-type": "application/json", ...(status === 429 ? { "retry-after": "0" } : {}) }
        })
      )
    })
  )
  return { client, requests }
}

const memberBody = { member: { guid: "MBR-1", user_guid: "USR-1", connection_status: "CONNECTED" } }
const ref = { userGuid: Member.UserGuid.make("USR-1"), memberGuid: Member.MemberGuid.make("MBR-1") }

/** The real MxClient over the HttpClient in context. */
const mxOver = (baseUrl: string) => MxClient.layer({ baseUrl, clientId: "client", apiKey })

const over = (client: HttpClient.HttpClient) => Layer.succeed(HttpClient.HttpClient, client)

describe("traces", () => {
  it.effect("MX calls become OpenTelemetry spans with MX attributes and no credentials", () =>
    Effect.gen(function*() {
      const recorder = SpanRecorder.make()
      const fake = fakeMx([[200, memberBody]])
      yield* Effect.gen(function*() {
        const mx = yield* MxClient.MxClient
        yield* mx.readMember(ref).pipe(Effect.withSpan("AggregationWorkflow", { attributes: { memberGuid: "MBR-1" } }))
      }).pipe(
        Effect.provide(mxOver("http://mx.test").pipe(Layer.provide(over(fake.client)))),
        Effect.provide(Observability.layer({ spanProcessors: [recorder.processor] }))
      )
      const spans = recorder.spans()
      const byName = (name: string) => spans.find((s) => s.name === name)
      const workflow = byName("AggregationWorkflow")
      const call = byName("MxClient.readMember")
      const http = spans.find((s) => s.name.startsWith("http.client"))
      assert.isDefined(workflow)
      assert.isDefined(call)
      assert.isDefined(http)
      assert.strictEqual(call!.attributes["mx.operation"], "readMember")
      assert.strictEqual(call!.attributes["mx.member_guid"], "MBR-1")
      assert.strictEqual(call!.parentSpanContext?.spanId, workflow!.spanContext().spanId)
      assert.strictEqual(http!.parentSpanContext?.spanId, call!.spanContext().spanId)
      assert.strictEqual(call!.spanContext().traceId, workflow!.spanContext().traceId)
      const text = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })))
      const basic = btoa(`client:${Redacted.value(apiKey)}`)
      assert.notInclude(text, Redacted.value(apiKey))
      assert.notInclude(text, basic)
      assert.include(text, "/members/MBR-1")
    }))

  it.live("with an OTLP endpoint, spans are sent to <endpoint>/v1/traces", () =>
    Effect.gen(function*() {
      const received: Array<{ readonly url: string; readonly body: string }> = []
      const server = yield* Effect.acquireRelease(
        Effect.async<ReturnType<typeof createServer>>((resume) => {
          const s = createServer((req, res) => {
            let body = ""
            req.on("data", (chunk) => (body += chunk))
            req.on("end", () => {
              received.push({ url: req.url ?? "", body })
              res.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) =>
          Effect.async<void>((resume) => {
            s.close(() => resume(Effect.void))
          })
      )
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      // Closing the layer flushes the batch.
      yield* Effect.void.pipe(
        Effect.withSpan("otlp-export-check", { attributes: { memberGuid: "MBR-otlp" } }),
        Effect.provide(Observability.layer({ otlpEndpoint: endpoint, serviceName: "worker-under-test" }))
      )
      assert.strictEqual(received.length, 1)
      assert.strictEqual(received[0]!.url, "/v1/traces")
      assert.include(received[0]!.body, "otlp-export-check")
      assert.include(received[0]!.body, "worker-under-test")
      assert.include(received[0]!.body, "MBR-otlp")
    }).pipe(Effect.scoped))

  it.effect("without an endpoint or processors no OpenTelemetry tracer is installed", () =>
    Effect.gen(function*() {
      const span = yield* Effect.makeSpan("plain")
      // Effect's own tracer: its spans are not OpenTelemetry spans.
      assert.notProperty(span, "span")
      const otel = yield* Effect.makeSpan("otel").pipe(
        Effect.provide(Observability.layer({ spanProcessors: [SpanRecorder.make().processor] }))
      )
      assert.property(otel, "span")
    }).pipe(Effect.provide(Observability.layer())))
})
