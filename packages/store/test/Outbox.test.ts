import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
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
