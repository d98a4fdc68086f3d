import { assert, describe, layer } from "@effect/vitest"
import { ConnectionStatus } from "@mx-aggregation/domain"
import { Effect, Option } from "effect"
import { AggregationRuns, TestDatabase } from "../src/index.js"
import { memberGuid, runId, storeLayer } from "./fixtures.js"

describe.each(TestDatabase.kinds)("AggregationRuns on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("journals a run: start (idempotent), every observed status with its time, MX calls, rows skipped, the outcome", () =>
      Effect.gen(function*() {
        const runs = yield* AggregationRuns.AggregationRuns
        const id = runId("journal")
        const started = yield* runs.start({
          runId: id,
          memberGuid: memberGuid(1),
          reason: "scheduled",
          startedAt: 1_000
        })
        assert.strictEqual(started.startedAt, 1_000)
        assert.strictEqual(started.endedAt, null)
        assert.strictEqual(started.outcome, null)
        assert.strictEqual(started.mxCalls, 0)
        assert.strictEqual(started.rowsSkipped, 0)
        // A retried activity starts the same run again: nothing changes.
        const again = yield* runs.start({ runId: id, memberGuid: memberGuid(1), reason: "manual", startedAt: 9_999 })
        assert.deepStrictEqual(again, started)

        yield* runs.observe(id, "CREATED", 1_001)
        yield* runs.observe(id, "CHALLENGED", 4_001)
        yield* runs.observe(id, "RESUMED", 7_001)
        yield* runs.observe(id, "CONNECTED", 10_001)
        yield* runs.addMxCalls(id, 3)
        yield* runs.addMxCalls(id, 2)
        yield* runs.addRowsSkipped(id, 1)
        yield* runs.addRowsSkipped(id, 2)
        assert.isTrue(yield* runs.finish({ runId: id, outcome: "connected", mxCalls: 4, endedAt: 12_000 }))
        assert.isFalse(
          yield* runs.finish({ runId: id, outcome: "failed", failureReason: "late", endedAt: 13_000 }),
          "a run ends once"
        )

        const { observations, run } = Option.getOrThrow(yield* runs.get(id))
        assert.strictEqual(run.reason, "scheduled")
        assert.strictEqual(run.outcome, "connected")
        assert.strictEqual(run.failureReason, null)
        assert.strictEqual(run.endedAt, 12_000)
        assert.strictEqual(run.mxCalls, 9)
        assert.strictEqual(run.rowsSkipped, 3)
        assert.deepStrictEqual(
          observations.map((o) => [o.status, o.observedAt]),
          [["CREATED", 1_001], ["CHALLENGED", 4_001], ["RESUMED", 7_001], ["CONNECTED", 10_001]]
        )
        assert.deepStrictEqual(yield* runs.get(runId("missing")), Option.none())
      }))

    it.effect("records a failure with its reason, and a null status", () =>
      Effect.gen(function*() {
        const runs = yield* AggregationRuns.AggregationRuns
        const id = runId("failure")
        yield* runs.start({ runId: id, memberGuid: memberGuid(2), reason: "webhook" })
        yield* runs.observe(id, null)
        yield* runs.finish({ runId: id, outcome: "failed", failureReason: "MX answered 500 three times" })
        const { observations, run } = Option.getOrThrow(yield* runs.get(id))
        assert.strictEqual(run.outcome, "failed")
        assert.strictEqual(run.failureReason, "MX answered 500 three times")
        assert.deepStrictEqual(observations.map((o) => o.status), [null])
      }))

    it.effect("keeps a status the domain does not know as MX's text, and the reason of a user who acted at the institution", () =>
      Effect.gen(function*() {
        const runs = yield* AggregationRuns.AggregationRuns
        const id = runId("unknown-status")
        yield* runs.start({ runId: id, memberGuid: memberGuid(3), reason: "user_acted_at_institution" })
        yield* runs.observe(id, ConnectionStatus.UnknownStatus.make("RECONNECTING"))
        yield* runs.observe(id, "LOCKED")
        const { observations, run } = Option.getOrThrow(yield* runs.get(id))
        assert.strictEqual(run.reason, "user_acted_at_institution")
        assert.deepStrictEqual(observations.map((o): string | null => o.status), ["RECONNECTING", "LOCKED"])
        assert.deepStrictEqual(
          observations.map((o) => o.status !== null && ConnectionStatus.isKnown(o.status)),
          [false, true]
        )
      }))

    it.effect("lists a member's runs most recent first, and recent runs by outcome", () =>
      Effect.gen(function*() {
        const runs = yield* AggregationRuns.AggregationRuns
        const member = memberGuid("history")
        const outcomes = ["retry_later", "retry_later", "connected", "needs_user_present"] as const
        for (const [i, outcome] of outcomes.entries()) {
          const id = runId(`history-${i}`)
          yield* runs.start({ runId: id, memberGuid: member, reason: "scheduled", startedAt: 100_000 + i })
          yield* runs.finish({ runId: id, outcome, endedAt: 100_000 + i })
        }
        yield* runs.start({
          runId: runId("history-open"),
          memberGuid: member,
          reason: "user_present",
          startedAt: 200_000
        })

        const history = yield* runs.listByMember(member)
        assert.deepStrictEqual(history.map((r) => r.runId), [
          "RUN-history-open",
          "RUN-history-3",
          "RUN-history-2",
          "RUN-history-1",
          "RUN-history-0"
        ])
        assert.deepStrictEqual((yield* runs.listByMember(member, { limit: 2 })).map((r) => r.runId), [
          "RUN-history-open",
          "RUN-history-3"
        ])
        assert.deepStrictEqual(yield* runs.listByMember(memberGuid("no-runs")), [])

        const retries = yield* runs.listRecent({ outcome: "retry_later" })
        assert.deepStrictEqual(retries.map((r) => r.runId), ["RUN-history-1", "RUN-history-0"])
        const open = yield* runs.listRecent({ unfinished: true })
        assert.isTrue(open.some((r) => r.runId === "RUN-history-open"))
        assert.isTrue(open.every((r) => r.endedAt === null))

        const counts = yield* runs.countByOutcome
        assert.strictEqual(counts.find((c) => c.outcome === "retry_later")?.count, 2)
        assert.isAtLeast(counts.find((c) => c.outcome === null)?.count ?? 0, 1)
      }))
  })
})
