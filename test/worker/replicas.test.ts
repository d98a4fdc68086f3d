/**
 * Several worker replicas on one PostgreSQL database (cluster runners over sockets on 127.0.0.1):
 * a member's runs never overlap, whichever replica asks, and every run completes.
 */
import { ClusterSchema, EntityId, Sharding } from "@effect/cluster"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, Database, PendingChallenges, TestDatabase } from "@mx-aggregation/store"
import { Aggregations, AggregationWorkflow, EngineConfig, Worker } from "@mx-aggregation/worker"
import { Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { freePort } from "../support/freePort.js"
import { eventually, timeScale } from "./harness.js"

/** The secret the replicas of these tests share (runners refuse peers without it). */
const runnerSecret = Redacted.make("replicas-test-runner-secret-8d41c07be2a95f36")

/** One replica: its own engine and runner, on the shared database and the shared sandbox. */
const replicaWith = (database: Database.DatabaseConfig, engine: Partial<EngineConfig.Service> = {}) =>
  Effect.gen(function*() {
    const mx = yield* Sandbox.Sandbox
    const { url } = yield* Sandbox.SandboxServer
    const port = yield* freePort
    const context = yield* Layer.build(
      Worker.layerEngine({ runner: { host: "127.0.0.1", port, secret: runnerSecret } }).pipe(
        Layer.provide(
          MxClient.layer({ baseUrl: url, clientId: mx.credentials.clientId, apiKey: mx.credentials.apiKey })
        ),
        Layer.provide(
          EngineConfig.layer({
            timeScale,
            mxAnchor: (yield* mx.now).getTime(),
            mfaTimeout: Duration.minutes(4),
            ...engine
          })
        ),
        Layer.provide(Database.layerFrom(database))
      )
    )
    return {
      aggregations: Context.get(context, Aggregations.Aggregations),
      sharding: Context.get(context, Sharding.Sharding),
      pending: Context.get(context, PendingChallenges.PendingChallenges),
      runs: Context.get(context, AggregationRuns.AggregationRuns)
    }
  })

type Replica = Effect.Effect.Success<ReturnType<typeof replicaWith>>

const replica = (database: Database.DatabaseConfig) => Effect.map(replicaWith(database), (r) => r.aggregations)

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

  // An MX webhook or an MFA answer may reach any replica; the member's run waits on the replica that
  // holds its workflow's shard. The runs wait on slow schedules (polling meant for webhooks: 15 s, then
  // doubling up to 2 min; a pending challenge checked every 10 min): what reaches the other replica
  // must bring the run's next read down to MX's 3 s floor.
  const scale = 20

  /** Two replicas; a new member with `password`, whose run is started and watched for status reads. */
  const crossReplica = <A>(
    password: string,
    test: (setup: {
      readonly reads: ReadonlyArray<number>
      readonly memberGuid: Member.MemberGuid
      readonly runId: AggregationRuns.RunId
      /** The replica that runs the member's workflow, and the other. */
      readonly owner: Effect.Effect<{ readonly owner: Replica; readonly other: Replica }>
    }) => Effect.Effect<A, unknown, Sandbox.Sandbox>
  ) => {
    const reads: Array<number> = []
    let watched: string | undefined
    return Effect.gen(function*() {
      const database = yield* TestDatabase.fresh("pg")
      const mx = yield* Sandbox.Sandbox
      const engine = {
        timeScale: scale,
        polling: EngineConfig.webhookPolling,
        challengeWatchInterval: Duration.minutes(10),
        mfaTimeout: Duration.minutes(30)
      }
      const replicas = yield* Effect.all([replicaWith(database, engine), replicaWith(database, engine)])
      const user = yield* mx.createUser()
      const member = yield* mx.createMember(user.guid, {
        institutionCode: "mxbank",
        username: "mxuser",
        password,
        skipAggregation: true
      })
      const memberGuid = member.guid as Member.MemberGuid
      watched = memberGuid
      yield* replicas[0].aggregations.discover(user.guid as Member.UserGuid)
      const started = yield* replicas[0].aggregations.start(memberGuid, "Scheduled")
      assert.strictEqual(started._tag, "Started")
      const entityId = EntityId.make(yield* AggregationWorkflow.executionIdOf(started.runId!))
      const group = Context.get(AggregationWorkflow.AggregationWorkflow.annotations, ClusterSchema.ShardGroup)(entityId)
      const runsIt = (r: Replica) => r.sharding.hasShardId(r.sharding.getShardId(entityId, group))
      const owner = Effect.sync(() => {
        const index = replicas.findIndex(runsIt)
        assert.notStrictEqual(index, -1, "a replica runs the member's workflow")
        const other = replicas[1 - index]!
        assert.isFalse(runsIt(other), "the other replica does not")
        return { owner: replicas[index]!, other }
      })
      return yield* test({ reads, memberGuid, runId: started.runId!, owner })
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Sandbox.layerServer({
          port: 0,
          timeScale: scale,
          seed: `replicas-${password}`,
          aggregationDuration: "30 seconds",
          delayedDuration: "20 minutes",
          mfaTimeout: "1 hour",
          observe: (exchange) => {
            if (
              exchange.operationId === "readMemberStatus" && watched !== undefined && exchange.url.includes(watched)
            ) {
              reads.push(Date.now())
            }
          }
        })
      ),
      Effect.provide(NodeHttpClient.layerUndici)
    )
  }

  /** Waits for the read after the first `before`, and says how long after `sentAt` it came (MX seconds). */
  const nextRead = (reads: ReadonlyArray<number>, before: number, sentAt: number, what: string) =>
    Effect.gen(function*() {
      const readAt = yield* eventually(
        "the run's next read",
        Effect.sync(() => Option.fromNullable(reads[before])),
        "20 seconds"
      )
      const mxSeconds = ((readAt - sentAt) * scale) / 1000
      console.log(`${what} -> the run's next MX read after ${mxSeconds.toFixed(1)} s MX (${readAt - sentAt} ms real)`)
      return mxSeconds
    })

  it.live(
    "a webhook reaching the replica that does not run the member wakes the run where it polls",
    () =>
      crossReplica("DELAYED", ({ memberGuid, owner, reads }) =>
        Effect.gen(function*() {
          // Four reads on the slow schedule (15, 30 and 60 s apart): the next is 2 minutes away.
          yield* eventually(
            "four status reads",
            Effect.sync(() => Option.some(reads.length).pipe(Option.filter((n) => n >= 4))),
            "30 seconds"
          )
          const { other } = yield* owner
          const before = reads.length
          const sentAt = Date.now()
          assert.strictEqual(yield* other.aggregations.webhook({ type: "CONNECTION_STATUS", memberGuid }), "woken")
          const after = yield* nextRead(reads, before, sentAt, "a webhook to the other replica")
          // MX's floor is 3 s after the previous read; the schedule's next read was 2 minutes away.
          assert.isBelow(after, 30, "woken, not left to the slow schedule")
        })),
    90_000
  )

  it.live(
    "an MFA answer reaching the replica that does not run the member resumes the run where it waits",
    () =>
      crossReplica("challenge", ({ memberGuid, owner, reads, runId }) =>
        Effect.gen(function*() {
          const { other } = yield* owner
          const round = yield* eventually("a pending challenge", other.pending.current(memberGuid), "30 seconds")
          const before = reads.length
          const sentAt = Date.now()
          yield* other.aggregations.answerChallenges(
            memberGuid,
            round.challenges.map((c) => new Member.CredentialValue({ guid: c.guid, value: Redacted.make("correct") }))
          )
          const after = yield* nextRead(reads, before, sentAt, "an MFA answer to the other replica")
          // The run checks a pending challenge every 10 minutes: only the answer's signal comes sooner (a
          // stored message to the other runner: seconds of MX time, more under load).
          assert.isBelow(after, 300, "resumed by the answer, not by the next check")
          const run = yield* eventually(
            "the run ends",
            other.runs.get(runId).pipe(Effect.map(Option.filter((r) => r.run.endedAt !== null))),
            "30 seconds"
          )
          assert.strictEqual(run.run.outcome, "connected")
        })),
    90_000
  )
})
