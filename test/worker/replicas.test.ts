/**
 * Several worker replicas on one PostgreSQL database (cluster runners over sockets on 127.0.0.1):
 * a member's runs never overlap, whichever replica asks, and every run completes.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, Database, TestDatabase } from "@mx-aggregation/store"
import { Aggregations, EngineConfig, Worker } from "@mx-aggregation/worker"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { createServer } from "node:net"
import { eventually, timeScale } from "./harness.js"

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** One replica: its own engine and runner, on the shared database and the shared sandbox. */
const replica = (database: Database.DatabaseConfig) =>
  Effect.gen(function*() {
    const mx = yield* Sandbox.Sandbox
    const { url } = yield* Sandbox.SandboxServer
    const port = yield* freePort
    const context = yield* Layer.build(
      Worker.layerEngine({ runner: { host: "127.0.0.1", port } }).pipe(
        Layer.provide(
          MxClient.layer({ baseUrl: url, clientId: mx.credentials.clientId, apiKey: mx.credentials.apiKey })
        ),
        Layer.provide(
          EngineConfig.layer({ timeScale, mxAnchor: (yield* mx.now).getTime(), mfaTimeout: Duration.minutes(4) })
        ),
        Layer.provide(Database.layerFrom(database))
      )
    )
    return Context.get(context, Aggregations.Aggregations)
  })

describe("several replicas on PostgreSQL", () => {
  it.live("one run per member whichever replica starts it; every run completes", () =>
    Effect.gen(function*() {
      const database = yield* TestDatabase.fresh("pg")
      const mx = yield* Sandbox.Sandbox
      const [a, b] = yield* Effect.all([replica(database), replica(database)])
      const user = yield* mx.createUser()
      const members: Array<Member.MemberGuid> = []
      for (let i = 0; i < 8; i++) {
        const member = yield* mx.createMember(user.guid, {
          institutionCode: "mxbank",
          username: "mxuser",
          password: `password-${i}`,
          skipAggregation: true
        })
        members.push(member.guid as Member.MemberGuid)
      }
      yield* a.discover(user.guid as Member.UserGuid)
      // Both replicas try to start every member at once.
      const starts = yield* Effect.forEach(
        members,
        (memberGuid) =>
          Effect.all([a.start(memberGuid, "Scheduled"), b.start(memberGuid, "Scheduled")], { concurrency: 2 }),
        { concurrency: "unbounded" }
      )
      for (const pair of starts) assert.strictEqual(pair.filter((s) => s._tag === "Started").length, 1)
      const runs = yield* Effect.provide(
        AggregationRuns.AggregationRuns,
        yield* Layer.build(
          AggregationRuns.layer.pipe(Layer.provide(Database.layerFrom(database)))
        )
      )
      for (const pair of starts) {
        const started = pair.find((s) => s._tag === "Started")!
        const run = yield* eventually(
          `run ${started.runId}`,
          runs.get(started.runId!).pipe(Effect.map(Option.filter((r) => r.run.endedAt !== null))),
          "60 seconds"
        )
        assert.strictEqual(run.run.outcome, "connected")
      }
      const stats = yield* mx.stats
      for (const memberGuid of members) {
        assert.isAtMost(stats.peakConcurrencyByMember[memberGuid] ?? 0, 1, "a member's calls never overlap")
      }
      assert.strictEqual(stats.byOperation["aggregateMember"], members.length, "one aggregate per member")
      assert.strictEqual(stats.deletes.members, 0)
    }).pipe(
      Effect.scoped,
      Effect.provide(Sandbox.layerServer({ port: 0, timeScale, seed: "replicas", aggregationDuration: "30 seconds" })),
      Effect.provide(NodeHttpClient.layerUndici)
    ), 90_000)

  it.live("replicas started at the same moment on a new database all start", () =>
    Effect.gen(function*() {
      // The first start on a new database creates the cluster's tables; replicas starting together race
      // to create them (PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent
      // creator) and the loser tries again. A few new databases, three replicas each, all at once.
      for (let attempt = 0; attempt < 4; attempt++) {
        const database = yield* TestDatabase.fresh("pg")
        const started = yield* Effect.all([replica(database), replica(database), replica(database)], {
          concurrency: "unbounded"
        })
        assert.strictEqual(started.length, 3)
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(Sandbox.layerServer({ port: 0, timeScale, seed: "replicas-start" })),
      Effect.provide(NodeHttpClient.layerUndici)
    ), 120_000)
})
