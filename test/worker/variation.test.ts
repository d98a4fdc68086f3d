/**
 * End-to-end: MX's real variation, within its spec, through the worker against the sandbox over real
 * HTTP (the sandbox's `variations` fault).
 *
 * - A `connection_status` the domain does not know: the run logs a warning (member guid and MX's
 *   text), counts it in `mx_aggregation_unknown_statuses_total` and appends a `status_unknown` event to
 *   the feed, once while the member keeps the status; the member is neither aggregated nor asked for
 *   anything; once MX reports a known status again the member is aggregated and its data pulled.
 * - A list row that does not decode: the run stores the other rows, completes, and counts the row in
 *   its `rowsSkipped` (also in `GET /members/:guid`).
 */
import { HttpClientRequest } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AccountsAndTransactions, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations } from "@mx-aggregation/worker"
import * as Metrics from "@mx-aggregation/worker/Metrics"
import { Effect, Layer, Metric, Option } from "effect"
import { CapturedLogs } from "../security/support.js"
import { callMx, controlClient, ended, harness, newMember } from "./harness.js"

const manualRun = (memberGuid: Parameters<Aggregations.Service["start"]>[0]) =>
  Effect.gen(function*() {
    const aggregations = yield* Aggregations.Aggregations
    const started = yield* aggregations.start(memberGuid, "Manual")
    assert.strictEqual(started._tag, "Started")
    return yield* ended(started._tag === "Started" ? started.runId : undefined!)
  })

const eventsOf = (memberGuid: string) =>
  Effect.flatMap(controlClient, (client) => client.events.list({ urlParams: { memberGuid: memberGuid as any } }))

const aggregatesCalled = Effect.map(
  Effect.flatMap(Sandbox.Sandbox, (mx) => mx.stats),
  (stats) => stats.aggregationsByOrigin["aggregate"] ?? 0
)

const unknownStatusCount = (label: string) =>
  Effect.map(Metric.value(Metric.tagged(Metrics.unknownStatuses, "status", label)), (state) => state.count)

describe("MX's variation through the worker", () => {
  layer(harness().pipe(Layer.provideMerge(CapturedLogs.layer)), { excludeTestServices: true })((it) => {
    it.effect("a status MX added: reported once (log, metric, event), never aggregated or asked; known again, it proceeds", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        const tracked = yield* TrackedMembers.TrackedMembers
        const logs = yield* CapturedLogs
        const { memberGuid } = yield* newMember("password")
        const counted = yield* unknownStatusCount("RECONNECTING")
        yield* mx.setFaults({ variations: { connectionStatus: { [memberGuid]: "RECONNECTING" } } })

        const first = yield* manualRun(memberGuid)
        assert.strictEqual(first.run.outcome, "skipped")
        assert.deepStrictEqual(first.observations.map((o): string | null => o.status), ["RECONNECTING"])
        const member = Option.getOrThrow(yield* tracked.get(memberGuid))
        assert.strictEqual(member.status, "RECONNECTING")
        assert.strictEqual(member.statusClass, "Unknown")
        assert.isFalse(member.needsUser)
        assert.strictEqual(member.userAction, null)
        // Read again after the policy's recheck (an hour of MX time), not at once and not never.
        assert.isAbove(member.nextDueAt!, first.run.endedAt! + 50 * 60_000)
        assert.isAtMost(member.nextDueAt!, first.run.endedAt! + 70 * 60_000)

        const line = logs.find((l) => l.includes("does not know") && l.includes(memberGuid))
        assert.isDefined(line, "a warning names the member")
        assert.include(line, "level=WARN")
        assert.include(line, "connectionStatus=RECONNECTING")
        assert.strictEqual(yield* unknownStatusCount("RECONNECTING"), counted + 1)
        const { events } = yield* eventsOf(memberGuid)
        assert.deepStrictEqual(events.map((e) => [e.type, e.payload]), [
          ["status_unknown", { run_id: first.run.runId, connection_status: "RECONNECTING" }]
        ])

        // Still RECONNECTING at the next run: nothing reported again.
        const second = yield* manualRun(memberGuid)
        assert.strictEqual(second.run.outcome, "skipped")
        assert.strictEqual(yield* unknownStatusCount("RECONNECTING"), counted + 1)
        assert.strictEqual(logs.filter((l) => l.includes("does not know") && l.includes(memberGuid)).length, 1)
        assert.strictEqual((yield* eventsOf(memberGuid)).events.length, 1)
        assert.strictEqual(yield* aggregatesCalled, 0, "never aggregated on an unknown status")

        // MX reports a known status again: the member is aggregated and its data pulled.
        yield* mx.setFaults({})
        const third = yield* manualRun(memberGuid)
        assert.strictEqual(third.run.outcome, "connected")
        assert.strictEqual(yield* aggregatesCalled, 1)
        assert.strictEqual(Option.getOrThrow(yield* tracked.get(memberGuid)).status, "CONNECTED")
        const types = (yield* eventsOf(memberGuid)).events.map((e) => e.type)
        assert.deepStrictEqual(types, ["status_unknown", "data_updated"], "no event asks the user for anything")
      }))
  })

  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("a transaction row without a guid: the other rows stored, the run completes with rowsSkipped 1", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        const { memberGuid, userGuid } = yield* newMember("password")
        yield* mx.setFaults({ variations: { undecodableRows: { listTransactionsByMember: 1 } } })
        const { run } = yield* manualRun(memberGuid)
        yield* mx.setFaults({})
        assert.strictEqual(run.outcome, "connected")
        assert.strictEqual(run.rowsSkipped, 1)

        const served = yield* callMx(
          HttpClientRequest.get(`/users/${userGuid}/members/${memberGuid}/transactions?records_per_page=1000`)
        ).pipe(Effect.flatMap((response) => response.json), Effect.scoped)
        const total = (served as { pagination: { total_entries: number } }).pagination.total_entries
        assert.isAbove(total, 0)
        const counts = yield* Effect.flatMap(
          AccountsAndTransactions.AccountsAndTransactions,
          (d) => d.counts(memberGuid)
        )
        assert.strictEqual(counts.transactions, total, "every transaction that decodes is stored")

        const client = yield* controlClient
        const detail = yield* client.members.get({ path: { memberGuid } })
        assert.strictEqual(detail.runs.find((r) => r.runId === run.runId)?.rowsSkipped, 1)
      }))
  })
})
