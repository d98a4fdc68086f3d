/**
 * The webhook listener keeps answering and handling webhooks when handling one fails (the database is
 * down, a defect): MX gets its 204, the failure is logged, and the next webhooks are handled.
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

describe("WebhookListener", () => {
  it.live("a webhook whose handling fails or dies is answered 204, and the next ones are still handled", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const context = yield* Layer.build(
        WebhookListener.layer({ port: 0, host: "127.0.0.1", ...credentials }).pipe(
          Layer.provide(flakyAggregations(seen))
        )
      )
      const { address, handled } = Context.get(context, WebhookListener.WebhookListener)
      const port = address._tag === "TcpAddress" ? address.port : 0
      const http = yield* HttpClient.HttpClient
      // More failures than the listener has handlers, then good ones.
      const guids = ["MBR-fails", "MBR-dies", "MBR-fails", "MBR-dies", "MBR-fails", "MBR-dies", "MBR-fine", "MBR-fine"]
      for (const guid of guids) {
        const response = yield* http.execute(
          HttpClientRequest.post(`http://127.0.0.1:${port}/webhooks/mx`).pipe(
            HttpClientRequest.setHeader("authorization", authorization),
            HttpClientRequest.bodyUnsafeJson({ type: "CONNECTION_STATUS", member_guid: guid })
          )
        )
        assert.strictEqual(response.status, 204, guid)
      }
      const count = yield* handled.pipe(
        Effect.filterOrFail((n) => n >= guids.length, () => "pending"),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "not all handled" })
      )
      assert.strictEqual(count, guids.length)
      assert.deepStrictEqual([...seen].sort(), [...guids].sort())
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
})
