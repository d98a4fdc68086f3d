/**
 * Runner failover, timed: two worker replicas (daemon child processes, cluster runners on one
 * PostgreSQL database). The replica running the scheduler singleton, with runs in flight (members
 * polled while MX aggregates, members waiting for MFA answers), is killed with SIGKILL and not started
 * again. The survivor must take over the singleton (it discovers a member created after the kill) and
 * the dead runner's workflows (its members complete, their challenges answered through the survivor),
 * and MX must see one aggregation per member and no broken rule. The test prints how long each
 * takeover took.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxBank, Sandbox } from "@mx-aggregation/mx-sandbox"
import { TestDatabase } from "@mx-aggregation/store"
import { Array as Arr, Effect, Redacted } from "effect"
import * as Fleet from "../reliability/support/Fleet.js"
import * as Harness from "./support/daemonHarness.js"

/** MX seconds per real second. */
const timeScale = 50
const token = "failover-token-0123456789abcdef0123"
const schedulerRuns = "the scheduler runs on this replica"
const schedulerStopped = "the scheduler stopped on this replica"

/** Whether the output (from `from` on) says the scheduler singleton runs there now. */
const runsScheduler = (output: string, from = 0) =>
  output.lastIndexOf(schedulerRuns) >= from && output.lastIndexOf(schedulerRuns) > output.lastIndexOf(schedulerStopped)

/** How long the survivor may take over, in real time (the cluster's runner health check runs every minute). */
const takeoverWithinMs = 120_000

describe("runner failover", () => {
  it.live("a dead runner's scheduler and in-flight workflows move to the survivor", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const database = yield* TestDatabase.fresh("pg")
      if (database._tag !== "Pg") return yield* Effect.dieMessage("PostgreSQL expected")
      // Four users, each with a member MX keeps DELAYED for a while and one that asks MFA (created once
      // both replicas run, so that the runs spread over them); a fifth user gets a member only after the
      // kill (found by the scheduler's discovery, wherever it runs).
      const users: Array<Member.UserGuid> = []
      for (let i = 0; i < 5; i++) {
        const user = yield* sandbox.createUser({ id: `failover-user-${i}` }).pipe(Effect.orDie)
        users.push(Member.UserGuid.make(user.guid))
      }
      const createMember = (user: Member.UserGuid, password: string) =>
        sandbox.createMember(user, { username: MxBank.username, password, skipAggregation: true }).pipe(
          Effect.orDie,
          Effect.map((member) => ({ guid: Member.MemberGuid.make(member.guid), password }))
        )

      const fleet = yield* Fleet.make({
        replicas: 2,
        storage: { _tag: "Pg", url: Redacted.value(database.url) },
        runners: true,
        timeScale,
        users,
        token,
        env: { WORKER_MFA_TIMEOUT: "3 hours" }
      })
      yield* fleet.printLogsOnFailure(Effect.gen(function*() {
        yield* fleet.start(0)
        yield* fleet.start(1)
        const api = (index: number) => fleet.replicas[index]!.api
        const members = yield* Effect.forEach(
          users.slice(0, 4),
          (user) => Effect.all([createMember(user, "DELAYED"), createMember(user, "challenge")])
        ).pipe(Effect.map(Arr.flatten))
        const lastVia = (index: number, m: { readonly guid: string }) =>
          fleet.replicas[index]!.proxy.lastRequestAt(m.guid) ?? -Infinity

        // --- every member has a run in flight: the DELAYED ones polling, the others waiting for answers.
        yield* Harness.eventually(
          "every member's run is in flight, the challenged ones waiting for answers, on both replicas",
          Effect.gen(function*() {
            const { challenges: pending } = yield* api(0).members.pendingChallenges({ urlParams: {} })
            const views = yield* Effect.forEach(members, (m) => api(0).members.get({ path: { memberGuid: m.guid } }))
            const spread = [0, 1].every((index) => members.some((m) => lastVia(index, m) > -Infinity))
            return pending.length === 4 && views.every((v) => v.member.activeRunId !== null) && spread || undefined
          }).pipe(Effect.catchTag("NotFound", () => Effect.succeed(undefined))),
          "60 seconds"
        )
        const singleton = yield* Harness.eventually(
          "one replica runs the scheduler",
          Effect.sync(() => [0, 1].find((i) => runsScheduler(fleet.output(i))))
        )
        const survivor = 1 - singleton
        // The runs the doomed replica carries: those whose last MX request went through its proxy.
        const carried = members.filter((m) => lastVia(singleton, m) > lastVia(survivor, m))
        assert.isAbove(carried.length, 0, "the killed replica carries runs")
        assert.isFalse(runsScheduler(fleet.output(survivor)), "the survivor does not run the scheduler yet")
        const survivorOutputBefore = fleet.output(survivor).length

        // --- the kill, for good.
        const killedAt = Date.now()
        yield* fleet.kill(singleton)
        const lateMember = yield* createMember(users[4]!, "password")

        // --- the survivor takes the scheduler over.
        yield* Harness.eventually(
          "the survivor runs the scheduler",
          Effect.sync(() => runsScheduler(fleet.output(survivor), survivorOutputBefore) || undefined),
          `${takeoverWithinMs} millis`
        )
        const schedulerMovedMs = Date.now() - killedAt

        // --- the users answer their challenges through the survivor.
        yield* Effect.forEach(members.filter((m) => m.password === "challenge"), (m) =>
          Harness.eventually(
            `the ${m.guid}'s answers are taken`,
            Effect.gen(function*() {
              const view = yield* api(survivor).members.challenges({ path: { memberGuid: m.guid } })
              const answers = view.challenges.map((c) =>
                Member.CredentialValue.make({ guid: c.guid, value: Redacted.make(MxBank.correctAnswer) })
              )
              if (!Arr.isNonEmptyReadonlyArray(answers)) return undefined
              yield* api(survivor).members.answer({ path: { memberGuid: m.guid }, payload: { answers } })
              return true
            }).pipe(Effect.catchAll(() => Effect.succeed(undefined))),
            `${takeoverWithinMs} millis`
          ), { discard: true })

        // --- every member completes, the late one too.
        const everyone = [...members, lateMember]
        const completed = yield* Effect.forEach(everyone, (m) =>
          Harness.eventually(
            `member ${m.guid} (${m.password}) completes`,
            Effect.map(
              api(survivor).members.get({ path: { memberGuid: m.guid } }),
              (d) =>
                d.member.activeRunId === null && d.runs.length > 0 && d.runs.every((r) => r.endedAt !== null)
                  ? { ...d, at: Date.now() }
                  : undefined
            ).pipe(Effect.catchAll(() => Effect.succeed(undefined))),
            `${takeoverWithinMs} millis`
          ))
        const carriedDoneMs = Math.max(
          ...completed.filter((d) => carried.some((m) => m.guid === d.member.memberGuid)).map((d) => d.at)
        ) - killedAt
        for (const detail of completed) {
          assert.strictEqual(detail.member.connectionStatus, "CONNECTED", `${detail.member.memberGuid}: connected`)
          assert.deepStrictEqual(
            detail.runs.map((r) => r.outcome),
            ["connected"],
            `${detail.member.memberGuid}: one run, connected`
          )
        }

        // --- MX saw one aggregation per member and no broken rule.
        const stats = yield* sandbox.stats
        assert.strictEqual(stats.aggregationsStarted, everyone.length, "one aggregation per member")
        assert.strictEqual(stats.resumesOutsideChallenged, 0)
        assert.strictEqual(stats.deletes.members, 0)
        for (const m of everyone) {
          assert.isAtMost(stats.peakConcurrencyByMember[m.guid] ?? 0, 1, `${m.guid}: one request at a time`)
        }
        assert.isAtLeast(stats.minPollIntervalMs ?? Infinity, 3_000, "no two reads of a member closer than 3 s MX")
        assert.deepStrictEqual(fleet.unexpectedExits(), [])
        console.log(
          `failover: the scheduler moved ${(schedulerMovedMs / 1000).toFixed(1)} s after the kill; ` +
            `the ${carried.length} run(s) the dead runner carried completed within ${
              (carriedDoneMs / 1000).toFixed(1)
            } s (real time)`
        )
      }))
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Harness.environment({
          timeScale,
          seed: "failover",
          aggregationDuration: "60 seconds",
          delayedDuration: "10 minutes",
          mfaTimeout: "6 hours",
          background: { enabled: false }
        }).layer
      ),
      Effect.provide(NodeHttpClient.layerUndici)
    ), 300_000)
})
