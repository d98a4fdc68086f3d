import { SqlClient } from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schedule } from "effect"
import { Outbox, TestDatabase } from "../src/index.js"
import { memberGuid, storeLayer, userGuid } from "./fixtures.js"

describe.each(TestDatabase.kinds)("Outbox on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("appends events with increasing ids and delivers them in order", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const a = memberGuid("outbox-a")
        const b = memberGuid("outbox-b")
        const e1 = yield* outbox.append({
          memberGuid: a,
          userGuid: userGuid(1),
          type: "mfa_required",
          payload: { challenges: ["CRD-1"] },
          createdAt: 10
        })
        const e2 = yield* outbox.append({ memberGuid: b, type: "credentials_required", payload: { status: "DENIED" } })
        const e3 = yield* outbox.append({ memberGuid: a, type: "data_updated", payload: { transactions: 12 } })
        assert.isTrue(e1.id < e2.id && e2.id < e3.id)
        assert.deepStrictEqual(e1.payload, { challenges: ["CRD-1"] })
        assert.strictEqual(e1.userGuid, "USR-1")
        assert.strictEqual(e2.userGuid, null)
        assert.strictEqual(e1.createdAt, 10)
        assert.strictEqual(e1.deliveredAt, null)

        const mine = (events: ReadonlyArray<Outbox.OutboxEvent>) =>
          events.filter((e) => e.memberGuid === a || e.memberGuid === b).map((e) => e.id)
        assert.deepStrictEqual(mine(yield* outbox.undelivered()), [e1.id, e2.id, e3.id])
        assert.deepStrictEqual((yield* outbox.undelivered({ memberGuid: a })).map((e) => e.type), [
          "mfa_required",
          "data_updated"
        ])

        assert.strictEqual(yield* outbox.markDelivered([e1.id, e2.id], 99), 2)
        assert.strictEqual(yield* outbox.markDelivered([e1.id]), 0, "already delivered")
        assert.strictEqual(yield* outbox.markDelivered([]), 0)
        assert.deepStrictEqual(mine(yield* outbox.undelivered()), [e3.id])
        const delivered = (yield* outbox.listRecent({ memberGuid: a })).find((e) => e.id === e1.id)
        assert.strictEqual(delivered?.deliveredAt, 99)
      }))

    it.effect("lists recent events newest first, by member, user, type, and after an id", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const m = memberGuid("recent")
        const user = userGuid("recent")
        const first = yield* outbox.append({ memberGuid: m, userGuid: user, type: "retry_scheduled", payload: null })
        const second = yield* outbox.append({ memberGuid: m, userGuid: user, type: "retry_scheduled", payload: 1 })
        const third = yield* outbox.append({ memberGuid: m, userGuid: user, type: "stopped", payload: "CLOSED" })
        assert.deepStrictEqual((yield* outbox.listRecent({ memberGuid: m })).map((e) => e.id), [
          third.id,
          second.id,
          first.id
        ])
        assert.deepStrictEqual(
          (yield* outbox.listRecent({ userGuid: user, type: "retry_scheduled" })).map((e) => e.id),
          [
            second.id,
            first.id
          ]
        )
        assert.deepStrictEqual((yield* outbox.listRecent({ memberGuid: m, afterId: first.id })).map((e) => e.id), [
          third.id,
          second.id
        ])
        assert.deepStrictEqual((yield* outbox.listRecent({ memberGuid: m, limit: 1 })).map((e) => e.payload), [
          "CLOSED"
        ])
        assert.strictEqual(first.payload, null)
      }))
  })
})

describe.each(TestDatabase.kinds)("Outbox.listAfter on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("pages forward in id order from a cursor, filtered by member", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const m = memberGuid("after")
        const start = yield* outbox.append({ memberGuid: memberGuid("before-after"), type: "stopped", payload: 0 })
        const appended: Array<number> = []
        for (let i = 0; i < 7; i++) {
          const other = yield* outbox.append({ memberGuid: memberGuid("after-other"), type: "stopped", payload: i })
          const mine = yield* outbox.append({ memberGuid: m, type: "data_updated", payload: i })
          appended.push(other.id, mine.id)
        }
        const pages: Array<ReadonlyArray<number>> = []
        let cursor = start.id
        for (;;) {
          const page = yield* outbox.listAfter({ afterId: cursor, limit: 3 })
          if (page.length === 0) break
          pages.push(page.map((e) => e.id))
          cursor = page[page.length - 1]!.id
        }
        assert.deepStrictEqual(pages.flat(), appended)
        assert.isTrue(pages.every((page) => page.length <= 3))
        const mine = yield* outbox.listAfter({ afterId: start.id, limit: 100, memberGuid: m })
        assert.deepStrictEqual(mine.map((e) => e.payload), [0, 1, 2, 3, 4, 5, 6])
        assert.strictEqual(
          (yield* outbox.listAfter({ limit: 1 }))[0]!.id <= start.id,
          true,
          "no cursor: from the start"
        )
      }))
  })
})

describe("Outbox on pg: commit order", () => {
  // The real clock: the reader waits for the other appender to commit or block.
  layer(storeLayer("pg"), { excludeTestServices: true })((it) => {
    it.effect("an append that commits after a later one is not skipped by a reader paging meanwhile", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const outbox = yield* Outbox.Outbox
        const cursor = (yield* outbox.append({ memberGuid: memberGuid("order-0"), type: "stopped", payload: 0 })).id
        const inserted = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        // A: appends inside a transaction that stays open until the gate opens.
        const slow = yield* sql.withTransaction(Effect.gen(function*() {
          yield* outbox.append({ memberGuid: memberGuid("order-a"), type: "stopped", payload: "a" })
          yield* Deferred.succeed(inserted, undefined)
          yield* Deferred.await(gate)
        })).pipe(Effect.fork)
        yield* Deferred.await(inserted)
        // B: a plain append, after A took its id.
        const fast = yield* outbox.append({ memberGuid: memberGuid("order-b"), type: "stopped", payload: "b" }).pipe(
          Effect.fork
        )
        // B either committed (ids out of commit order) or waits for A's commit.
        yield* Effect.gen(function*() {
          const visible = yield* outbox.listAfter({ afterId: cursor, limit: 10 })
          const [{ waiting }] = yield* sql<{ waiting: number | string }>`SELECT COUNT(*) AS waiting FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted`
          if (visible.length === 0 && Number(waiting) === 0) return yield* Effect.fail("pending" as const)
        }).pipe(Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 3000 }))
        const first = yield* outbox.listAfter({ afterId: cursor, limit: 10 })
        const next = first.length === 0 ? cursor : first[first.length - 1]!.id
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(slow)
        yield* Fiber.join(fast)
        const second = yield* outbox.listAfter({ afterId: next, limit: 10 })
        assert.deepStrictEqual([...first, ...second].map((e) => e.payload), ["a", "b"])
      }))
  })
})
