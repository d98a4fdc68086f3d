/**
 * The backlog gauges read from a real store at each scrape, on SQLite and PostgreSQL: their values,
 * and that a scrape reads a few count rows whatever the number of members.
 */
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { AggregationRuns, PendingChallenges, Store, TestDatabase, TrackedMembers } from "@mx-aggregation/store"
import { EngineConfig, MetricsEndpoint, Observability, StoreGauges } from "@mx-aggregation/worker"
import { PrometheusText } from "@mx-aggregation/worker/testing"
import { Context, Effect, Either, Layer, Schema } from "effect"
import { scrape } from "./support/scrape.js"

describe("backlog gauges from the store", () => {
  it.live("active runs, due members, members per status class, open challenges, runs per outcome", () =>
    Effect.gen(function*() {
      const tracked = yield* TrackedMembers.TrackedMembers
      const runs = yield* AggregationRuns.AggregationRuns
      const pending = yield* PendingChallenges.PendingChallenges
      const user = Member.UserGuid.make("USR-gauges")
      const guids = ["MBR-g1", "MBR-g2", "MBR-g3", "MBR-g4"].map((g) => Member.MemberGuid.make(g))
      const now = Date.now()
      for (const [i, memberGuid] of guids.entries()) {
        // Three due now, the fourth in an hour.
        yield* tracked.track({
          memberGuid,
          userGuid: user,
          institutionCode: null,
          nextDueAt: i < 3 ? now : now + 3600_000
        })
      }
      const runId = AggregationRuns.RunId.make("run-gauges-1")
      yield* tracked.claim(guids[0]!, runId)
      yield* runs.start({ runId, memberGuid: guids[0]!, reason: "manual" })
      yield* tracked.recordObservation({
        memberGuid: guids[0]!,
        status: "CHALLENGED",
        isBeingAggregated: true,
        successfullyAggregatedAt: null
      })
      yield* tracked.recordObservation({
        memberGuid: guids[1]!,
        status: "CONNECTED",
        isBeingAggregated: false,
        successfullyAggregatedAt: now
      })
      yield* pending.add({
        memberGuid: guids[0]!,
        runId,
        challenges: [
          Schema.decodeUnknownSync(Member.Challenge)({ guid: "CRD-1", type: "TEXT", label: "What is the answer?" })
        ],
        expiresAt: now + 60_000
      })
      const done = AggregationRuns.RunId.make("run-gauges-0")
      yield* runs.start({ runId: done, memberGuid: guids[1]!, reason: "scheduled" })
      yield* runs.finish({ runId: done, outcome: "connected", failureReason: null })

      const exposition = yield* scrape
      const gauge = (name: string, labels: Record<string, string> = {}) =>
        PrometheusText.sumOf(exposition, name, labels)
      assert.strictEqual(exposition.types.get("mx_aggregation_runs_active"), "gauge")
      assert.strictEqual(gauge("mx_aggregation_runs_active"), 1)
      assert.strictEqual(gauge("mx_aggregation_members_due"), 2, "due and not running")
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "Challenged" }), 1)
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "Connected" }), 1)
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "None" }), 2)
      assert.strictEqual(gauge("mx_aggregation_members", { status_class: "Denied" }), 0)
      assert.strictEqual(gauge("mx_aggregation_challenges_pending"), 1)
      assert.strictEqual(gauge("mx_aggregation_runs_stored", { outcome: "connected" }), 1)
      assert.strictEqual(gauge("mx_aggregation_runs_stored", { outcome: "unfinished" }), 1)

      // A member that leaves a class sets it back to 0 on the next scrape.
      yield* pending.resolve({ memberGuid: guids[0]!, resolution: "answered" })
      yield* tracked.recordObservation({
        memberGuid: guids[0]!,
        status: "CONNECTED",
        isBeingAggregated: false,
        successfullyAggregatedAt: now
      })
      const later = yield* scrape
      assert.strictEqual(PrometheusText.sumOf(later, "mx_aggregation_members", { status_class: "Challenged" }), 0)
      assert.strictEqual(PrometheusText.sumOf(later, "mx_aggregation_members", { status_class: "Connected" }), 2)
      assert.strictEqual(PrometheusText.sumOf(later, "mx_aggregation_challenges_pending"), 0)
    }).pipe(
      Effect.provide(
        StoreGauges.layer.pipe(
          Layer.provideMerge(Observability.layer()),
          Layer.provideMerge(Store.layer),
          Layer.provide(EngineConfig.layer()),
          Layer.provide(TestDatabase.layer("sqlite"))
        )
      )
    ))
})

/** The repository with the rows of every result added to `counter` (a list is its length, anything else one row). */
const countingRows = <S extends object>(service: S, counter: { rows: number }): S =>
  new Proxy(service, {
    get(target, key, receiver) {
      const member = Reflect.get(target, key, receiver)
      const count = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(effect, (result) => Effect.sync(() => (counter.rows += Array.isArray(result) ? result.length : 1)))
      if (Effect.isEffect(member)) return count(member)
      if (typeof member !== "function") return member
      return (...args: Array<unknown>) => {
        const result = (member as (...args: Array<unknown>) => unknown).apply(target, args)
        return Effect.isEffect(result) ? count(result) : result
      }
    }
  })

describe.each(TestDatabase.kinds)("backlog gauges on %s", (kind) => {
  it.live("a scrape reads a few count rows, not the members it counts", () =>
    Effect.gen(function*() {
      const counter = { rows: 0 }
      const store = yield* Layer.build(Store.layer.pipe(Layer.provide(TestDatabase.layer(kind))))
      const tracked = Context.get(store, TrackedMembers.TrackedMembers)
      const runs = Context.get(store, AggregationRuns.AggregationRuns)
      const pending = Context.get(store, PendingChallenges.PendingChallenges)
      const counted = Layer.mergeAll(
        Layer.succeed(TrackedMembers.TrackedMembers, countingRows(tracked, counter)),
        Layer.succeed(AggregationRuns.AggregationRuns, countingRows(runs, counter)),
        Layer.succeed(PendingChallenges.PendingChallenges, countingRows(pending, counter))
      )
      const prometheus = Context.get(
        yield* Layer.build(
          StoreGauges.layer.pipe(
            Layer.provideMerge(Observability.layer()),
            Layer.provide(counted),
            Layer.provide(EngineConfig.layer())
          )
        ),
        MetricsEndpoint.Prometheus
      )
      const now = Date.now()
      const challenge = Schema.decodeUnknownSync(Member.Challenge)({ guid: "CRD-rows", type: "TEXT", label: "Code?" })
      let seeded = 0
      /** `n` more members: half due, a quarter running, half of the running ones waiting on a challenge. */
      const seed = (n: number) =>
        Effect.gen(function*() {
          const guids = Array.from({ length: n }, (_, i) => Member.MemberGuid.make(`MBR-rows-${seeded + i}`))
          yield* tracked.trackMany(guids.map((memberGuid, i) => ({
            memberGuid,
            userGuid: Member.UserGuid.make("USR-rows"),
            nextDueAt: i % 2 === 0 ? now - 1_000 : now + 3_600_000
          })))
          for (const [i, memberGuid] of guids.entries()) {
            yield* tracked.recordObservation({ memberGuid, status: i % 3 === 0 ? "DENIED" : "CONNECTED" })
            if (i % 4 !== 1) continue
            const runId = AggregationRuns.RunId.make(`run-rows-${seeded + i}`)
            yield* tracked.claim(memberGuid, runId)
            yield* runs.start({ runId, memberGuid, reason: "scheduled" })
            if (i % 8 === 1) yield* pending.add({ memberGuid, runId, challenges: [challenge] })
          }
          seeded += n
        })
      const scrapeRows = Effect.gen(function*() {
        counter.rows = 0
        const exposition = PrometheusText.parse(yield* prometheus.scrape).pipe(Either.getOrThrow)
        return {
          rows: counter.rows,
          due: PrometheusText.sumOf(exposition, "mx_aggregation_members_due"),
          active: PrometheusText.sumOf(exposition, "mx_aggregation_runs_active"),
          challenges: PrometheusText.sumOf(exposition, "mx_aggregation_challenges_pending")
        }
      })
      yield* seed(40)
      const small = yield* scrapeRows
      yield* seed(400)
      const large = yield* scrapeRows
      // Eleven times the members, the same reads: active, due, open challenges (one row each), one row
      // per status class and per run outcome present.
      assert.deepStrictEqual(
        { due: small.due, active: small.active, challenges: small.challenges },
        { due: 20, active: 10, challenges: 5 }
      )
      assert.deepStrictEqual(
        { due: large.due, active: large.active, challenges: large.challenges },
        { due: 220, active: 110, challenges: 55 }
      )
      assert.strictEqual(large.rows, small.rows)
      assert.isAtMost(large.rows, 6)
    }).pipe(Effect.scoped), 120_000)
})
