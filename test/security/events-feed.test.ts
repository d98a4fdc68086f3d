/**
 * The partner event feed is lossless: `GET /events?afterId=<next>` pages forward in id order, and a
 * partner that passes each page's `next` back gets every event exactly once, in order, while events
 * keep being appended (by several writers at once). Page sizes and cursors outside the API's range are
 * 400 problems.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import type { Member } from "@mx-aggregation/domain"
import { Outbox, TestDatabase } from "@mx-aggregation/store"
import { ControlApi, ControlApiLive } from "@mx-aggregation/worker"
import { Effect, Fiber, Option, Redacted } from "effect"
import { controlClient, harness, token } from "../worker/harness.js"

const total = 1_000
const pageSize = 37
const writers = 4

describe.each(TestDatabase.kinds)("the event feed on %s", (kind) => {
  // The reader polls as fast as it can: no rate limit in its way.
  const limits = { ...ControlApiLive.defaultLimits, requestsPerMinute: 1_000_000 }
  layer(harness({ kind, limits }), { excludeTestServices: true })((it) => {
    it.effect("pages of 37 deliver 1,000 events exactly once, in order, while writers keep appending", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const client = yield* controlClient
        const member = (i: number) => `MBR-feed-${kind}-${i % 10}` as Member.MemberGuid
        const ours = new Set(Array.from({ length: 10 }, (_, i) => member(i) as string))
        const append = (i: number) => outbox.append({ memberGuid: member(i), type: "data_updated", payload: { i } })
        // Half before the partner starts reading, half by concurrent writers while it pages.
        const appended: Array<number> = []
        for (let i = 0; i < total / 2; i++) appended.push((yield* append(i)).id)
        const late = yield* Effect.forEach(
          Array.from({ length: writers }, (_, w) => w),
          (w) =>
            Effect.forEach(
              Array.from({ length: total / 2 / writers }, (_, k) => total / 2 + w + k * writers),
              (i) => Effect.map(append(i), (e) => appended.push(e.id)),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.fork)

        const received: Array<number> = []
        let cursor = 0
        let pages = 0
        let pagesDuringWrites = 0
        yield* Effect.gen(function*() {
          for (;;) {
            const writing = Option.isNone(yield* Fiber.poll(late))
            const page = yield* client.events.list({ urlParams: { afterId: cursor, limit: pageSize } })
            pages++
            if (writing) pagesDuringWrites++
            assert.isAtMost(page.events.length, pageSize)
            received.push(...page.events.filter((e) => ours.has(e.memberGuid)).map((e) => e.id))
            cursor = page.next
            if (!writing && page.events.length === 0) return
            // Caught up with the writers: ask again shortly (a partner's polling interval).
            if (page.events.length === 0) yield* Effect.sleep("10 millis")
          }
        }).pipe(Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error("the feed never ended") }))
        yield* Fiber.join(late)
        assert.isAbove(pagesDuringWrites, 0, "some pages were read while the writers appended")
        assert.strictEqual(received.length, total, "every event exactly once")
        assert.strictEqual(new Set(received).size, total)
        assert.deepStrictEqual(received, [...received].sort((a, b) => a - b), "in id order")
        assert.deepStrictEqual([...received].sort((a, b) => a - b), [...appended].sort((a, b) => a - b))
        assert.isAtLeast(pages, Math.ceil(total / pageSize))
        // Read to the end, the feed has nothing more: `next` stays where the partner is.
        const end = yield* client.events.list({ urlParams: { afterId: cursor } })
        assert.deepStrictEqual(end.events.filter((e) => ours.has(e.memberGuid)), [])
        assert.strictEqual(end.next, cursor)
      }))
  })
})

describe("the event feed's parameters", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("a default page of 100, at most 1000; other sizes and cursors are 400 problems, never 500", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const client = yield* controlClient
        for (let i = 0; i < 120; i++) {
          yield* outbox.append({ memberGuid: "MBR-params" as Member.MemberGuid, type: "stopped", payload: i })
        }
        assert.strictEqual((yield* client.events.list({ urlParams: {} })).events.length, ControlApi.defaultPageSize)
        assert.strictEqual((yield* client.events.list({ urlParams: { limit: 1000 } })).events.length, 120)

        const server = yield* HttpServer.HttpServer
        const base = `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
        const http = yield* HttpClient.HttpClient
        for (
          const query of [
            "limit=0",
            "limit=1001",
            "limit=-5",
            "limit=2.5",
            "limit=ten",
            "limit=",
            "afterId=1.5",
            "afterId=-1",
            "afterId=1e3",
            "afterId=99999999999999999999",
            "afterId=%201"
          ]
        ) {
          const response = yield* http.execute(
            HttpClientRequest.get(`${base}/events?${query}`).pipe(HttpClientRequest.bearerToken(Redacted.value(token)))
          )
          assert.strictEqual(response.status, 400, query)
          assert.strictEqual(response.headers["content-type"], "application/problem+json", query)
          const problem = (yield* response.json) as { readonly _tag: string; readonly issues: ReadonlyArray<any> }
          assert.strictEqual(problem._tag, "BadRequest", query)
          assert.deepStrictEqual(problem.issues.map((i) => i.path[0]), [query.split("=")[0]], query)
        }
      }))
  })
})
