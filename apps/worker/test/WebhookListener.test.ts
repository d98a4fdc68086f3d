/**
 * The webhook listener keeps answering and handling webhooks when handling one fails (the database is
 * down, a defect): MX gets its 204, the failure is logged, and the next webhooks are handled. A webhook
 * naming a status the worker does not know (by name or by `connection_status_id`) is a wake-up like
 * any other.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { StoreError } from "@mx-aggregation/store"
import { Aggregations, WebhookListener } from "@mx-aggregation/worker"
import { Context, Effect, Layer, Redacted, Schedule } from "effect"

const credentials = { username: "mx", password: Redacted.make("unit-test-webhook-password-0123") }
const authorization = `Basic ${Buffer.from(`mx:${Redacted.value(credentials.password)}`).toString("base64")}`

/** `Aggregations` whose `webhook` fails, dies or succeeds by member guid; nothing else is used. */
const flakyAggregations = (seen: Array<string>) =>
  Layer.succeed(
    Aggregations.Aggregations,
    {
      webhook: ({ memberGuid }: { readonly memberGuid: string }) =>
        Effect.suspend(() => {
          seen.push(memberGuid)
          if (memberGuid === "MBR-fails") {
            return Effect.fail(
              new StoreError.StoreError({ reason: "QueryFailed", operation: "test", message: "database down" })
            )
          }
          if (memberGuid === "MBR-dies") return Effect.dieMessage("a defect")
          return Effect.succeed("ignored" as const)
        })
    } as unknown as Aggregations.Service
  )

/** `Aggregations` that records what `webhook` is handed; nothing else is used. */
const recordingAggregations = (seen: Array<{ readonly type: string; readonly memberGuid: string }>) =>
  Layer.succeed(
    Aggregations.Aggregations,
    {
      webhook: (webhook: { readonly type: string; readonly memberGuid: string }) =>
        Effect.sync(() => {
          seen.push({ type: webhook.type, memberGuid: webhook.memberGuid })
          return "woken" as const
        })
    } as unknown as Aggregations.Service
  )

const listening = (aggregations: Layer.Layer<Aggregations.Aggregations>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      WebhookListener.layer({ port: 0, host: "127.0.0.1", ...credentials }).pipe(Layer.provide(aggregations))
    )
    const { address, handled } = Context.get(context, WebhookListener.WebhookListener)
    const port = address._tag === "TcpAddress" ? address.port : 0
    const http = yield* HttpClient.HttpClient
    const post = (body: unknown) =>
      http.execute(
        HttpClientRequest.post(`http://127.0.0.1:${port}/webhooks/mx`).pipe(
          HttpClientRequest.setHeader("authorization", authorization),
          HttpClientRequest.bodyUnsafeJson(body)
        )
      ).pipe(Effect.map((response) => response.status))
    const handledAtLeast = (n: number) =>
      handled.pipe(
        Effect.filterOrFail((count) => count >= n, () => "pending"),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "not all handled" })
      )
    return { post, handledAtLeast }
  })

describe("WebhookListener", () => {
  it.live("a webhook with a status the worker does not know, by name or by id, is received and handled as a wake-up", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly type: string; readonly memberGuid: string }> = []
      const { handledAtLeast, post } = yield* listening(recordingAggregations(seen))
      const webhooks = [
        { connection_status: "CONNECTED", connection_status_id: 6 },
        { connection_status: "RECONNECTING", connection_status_id: 23 },
        { connection_status_id: 22 },
        { connection_status: null, connection_status_id: "not an id" }
      ]
      for (const [i, fields] of webhooks.entries()) {
        const status = yield* post({ type: "CONNECTION_STATUS", member_guid: `MBR-${i}`, ...fields })
        assert.strictEqual(status, 204, JSON.stringify(fields))
      }
      yield* handledAtLeast(webhooks.length)
      assert.deepStrictEqual(
        [...seen].sort((a, b) => a.memberGuid.localeCompare(b.memberGuid)),
        webhooks.map((_, i) => ({ type: "CONNECTION_STATUS", memberGuid: `MBR-${i}` }))
      )
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a webhook whose handling fails or dies is answered 204, and the next ones are still handled", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const { handledAtLeast, post } = yield* listening(flakyAggregations(seen))
      // More failures than the listener has handlers, then good ones.
      const guids = ["MBR-fails", "MBR-dies", "MBR-fails", "MBR-dies", "MBR-fails", "MBR-dies", "MBR-fine", "MBR-fine"]
      for (const guid of guids) {
        assert.strictEqual(yield* post({ type: "CONNECTION_STATUS", member_guid: guid }), 204, guid)
      }
      assert.strictEqual(yield* handledAtLeast(guids.length), guids.length)
      assert.deepStrictEqual([...seen].sort(), [...guids].sort())
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
})
