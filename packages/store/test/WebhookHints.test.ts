import { SqlClient } from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TestDatabase, TrackedMembers, WebhookHints } from "../src/index.js"
import { memberGuid, storeLayer, userGuid } from "./fixtures.js"

const window = "30 seconds"

describe.each(TestDatabase.kinds)("WebhookHints on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("accepts a member's first hint, refuses repeats within the window, accepts again after it", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const hints = yield* WebhookHints.WebhookHints
        const guid = memberGuid("hinted")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        assert.isTrue(yield* hints.accept(guid, 100_000, window))
        assert.isFalse(yield* hints.accept(guid, 100_001, window))
        assert.isFalse(yield* hints.accept(guid, 129_999, window))
        assert.isTrue(yield* hints.accept(guid, 130_000, window))
        assert.isFalse(yield* hints.accept(guid, 130_000, window))
        // Another member has its own window.
        const other = memberGuid("hinted-other")
        yield* members.track({ memberGuid: other, userGuid: userGuid(1) })
        assert.isTrue(yield* hints.accept(other, 130_001, window))
      }))

    it.effect("of many hints at once about one member, exactly one is accepted", () =>
      Effect.gen(function*() {
        const members = yield* TrackedMembers.TrackedMembers
        const hints = yield* WebhookHints.WebhookHints
        const guid = memberGuid("hinted-race")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        const accepted = yield* Effect.all(
          Array.from({ length: 20 }, () => hints.accept(guid, 500_000, window)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(accepted.filter((a) => a).length, 1)
      }))

    it.effect("unknown and untracked members are refused and nothing is written", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const members = yield* TrackedMembers.TrackedMembers
        const hints = yield* WebhookHints.WebhookHints
        const guid = memberGuid("hinted-untracked")
        yield* members.track({ memberGuid: guid, userGuid: userGuid(1) })
        yield* members.untrack(guid)
        assert.isFalse(yield* hints.accept(guid, 1_000, window))
        assert.isFalse(yield* hints.accept(memberGuid("hinted-unknown"), 1_000, window))
        const rows = yield* sql<{ webhook_hint_at: unknown }>`SELECT webhook_hint_at FROM tracked_members
          WHERE member_guid = ${guid}`
        assert.deepStrictEqual(rows.map((r) => r.webhook_hint_at), [null])
        const unknown = yield* sql`SELECT 1 FROM tracked_members WHERE member_guid = ${memberGuid("hinted-unknown")}`
        assert.strictEqual(unknown.length, 0)
      }))
  })
})
