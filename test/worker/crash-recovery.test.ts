/**
 * Crash recovery: the worker daemon runs as a child process against the MX sandbox served on
 * 127.0.0.1 and is killed with SIGKILL twice: while runs are polling MX (a DELAYED member mid-poll)
 * and while members wait for MFA answers. Each time it starts again on the same SQLite file and
 * port. Every member must still reach its outcome, with exactly one aggregation started per member,
 * the same run carried across the kills, and the pending challenges remembered and answerable
 * after the restart.
 */
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxBank, Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, Database, Store, TrackedMembers } from "@mx-aggregation/store"
import type { MemberDetail, PendingChallengeView } from "@mx-aggregation/worker/ControlApi"
import { Array as Arr, Deferred, Effect, Layer, Option, Redacted } from "effect"
import { join } from "node:path"
import { freePort } from "../support/freePort.js"
import * as Harness from "./support/daemonHarness.js"
import * as HoldingProxy from "./support/holdingProxy.js"

/** MX seconds per real second: a 60 s aggregation takes 1.2 s, the 3 s polling floor 60 ms. */
const timeScale = 50
const token = "crash-recovery-token-0123456789abcdef"

const sandboxOptions: Sandbox.ServerOptions = {
  timeScale,
  seed: "crash-recovery",
  aggregationDuration: "60 seconds",
  // DELAYED for 12 minutes of MX time (14.4 s): still aggregating when the worker is killed.
  delayedDuration: "12 minutes",
  // Longer than the worker's MFA timeout (below), itself longer than the test.
  mfaTimeout: "3 hours",
  background: { enabled: false }
}

/** The MX Bank password of each member, and the outcome the worker must reach for it. */
const cases = [
  { password: "password", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "DELAYED", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "challenge", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "options", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "UNAUTHORIZED", status: "DENIED", outcome: "credentials_required", needsUser: "credentials" },
  { password: "LOCKED", status: "LOCKED", outcome: "institution_action_required", needsUser: "institution" }
] as const

type Password = typeof cases[number]["password"]

const challenged = ["challenge", "options"] as const

/**
 * Two crash windows found by these tests and fixed in the worker (the claim and the run record now
 * commit together, and a repeated Aggregate activity checks MX before calling aggregate again). With
 * a flag set to true a test checks the old defect's symptom instead; both are false: the tests check
 * the correct behaviour.
 */
const knownDefects = {
  /** A crash between `TrackedMembers.claim` and `AggregationRuns.start` leaves the member claimed forever. */
  claimWithoutRunStaysClaimed: false,
  /** A crash after MX accepted `aggregate`, before the activity was journaled, calls `aggregate` again. */
  aggregateRepeatedAfterCrash: false
}

describe.concurrent("worker crash recovery", () => {
  it.live(
    "SIGKILL mid-poll and mid-MFA-wait: every member reaches its outcome, one aggregation each",
    () => {
      const { exchanges, layer } = Harness.environment(sandboxOptions)
      return Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const first = yield* Harness.createMembers("crash-user-1", ["password", "DELAYED", "challenge"] as const)
        const second = yield* Harness.createMembers("crash-user-2", ["options", "UNAUTHORIZED", "LOCKED"] as const)
        const members = new Map<Password, Member.MemberGuid>([...first.members, ...second.members])
        const guid = (password: Password) => members.get(password)!

        const dir = yield* Harness.tempDir("mx-crash-recovery-")
        const port = yield* freePort
        const env = yield* Harness.workerEnv({
          timeScale,
          users: [first.userGuid, second.userGuid],
          sqliteFile: join(dir, "worker.db"),
          port,
          token,
          extra: { WORKER_MFA_TIMEOUT: "2 hours" }
        })
        const api = yield* Harness.controlApi(port, token)
        const workers = Harness.workerStarter(env, api)

        const detail = (password: Password) => api.members.get({ path: { memberGuid: guid(password) } })
        const activeRun = (password: Password) => Effect.map(detail(password), (d) => d.member.activeRunId ?? undefined)
        const pendingChallenge = (password: Password) =>
          api.members.challenges({ path: { memberGuid: guid(password) } }).pipe(
            Effect.map((view): PendingChallengeView | undefined => view),
            Effect.catchTag("NotFound", () => Effect.succeed(undefined))
          )
        const phase = (password: Password) =>
          Effect.map(
            sandbox.member(guid(password)),
            (state) => Option.getOrNull(Option.flatMap(state, (s) => Option.fromNullable(s.job?.phase)))
          )

        return yield* workers.printLogsOnFailure(Effect.gen(function*() {
          // --- first start: kill while the DELAYED member's run is polling MX.
          const firstWorker = yield* workers.start
          yield* Harness.eventually(
            "the DELAYED member's run polls MX while MX still aggregates",
            Effect.gen(function*() {
              const run = yield* activeRun("DELAYED")
              const polled = exchanges.count("readMemberStatus", guid("DELAYED")) > 0
              return run !== undefined && polled && (yield* phase("DELAYED")) === "delayed" ? run : undefined
            })
          )
          const runsBefore = new Map<Password, string>()
          for (const { password } of cases) {
            const run = yield* activeRun(password)
            if (run !== undefined) runsBefore.set(password, run)
          }
          yield* firstWorker.kill
          assert.strictEqual(yield* phase("DELAYED"), "delayed", "killed while MX was still aggregating")
          const afterFirstKill = exchanges.all.length

          // --- second start: kill while both challenged members wait for MFA answers, once the restarted
          // worker has resumed the runs (the DELAYED member's shows: it polls MX again).
          const secondWorker = yield* workers.start
          const pendingBefore = new Map<Password, PendingChallengeView>()
          for (const password of challenged) {
            const view = yield* Harness.eventually(
              `the ${password} member waits for answers`,
              pendingChallenge(password)
            )
            pendingBefore.set(password, view)
          }
          yield* Harness.eventually(
            "the restarted worker polls the DELAYED member again",
            Effect.sync(() => exchanges.count("readMemberStatus", guid("DELAYED"), afterFirstKill) > 0 || undefined)
          )
          yield* secondWorker.kill
          for (const password of challenged) {
            assert.strictEqual(yield* phase(password), "challenged", `${password}: killed while MX waited for answers`)
          }

          // --- third start: the challenges are remembered; answer them through the control API.
          yield* workers.start
          for (const password of challenged) {
            const view = yield* pendingChallenge(password)
            assert.isDefined(view, `${password}: the pending challenge survived the kill`)
            assert.strictEqual(view!.runId, pendingBefore.get(password)!.runId, `${password}: the same run waits`)
            assert.deepStrictEqual(
              view!.challenges.map((c) => c.guid),
              pendingBefore.get(password)!.challenges.map((c) => c.guid)
            )
            assert.strictEqual(yield* activeRun(password), view!.runId)
            // TEXT: the answer itself; OPTIONS: the value of the option chosen. `correct` in both cases.
            const answers = view!.challenges.map((c) =>
              Member.CredentialValue.make({ guid: c.guid, value: Redacted.make(MxBank.correctAnswer) })
            )
            if (!Arr.isNonEmptyReadonlyArray(answers)) return yield* Effect.dieMessage(`${password}: no challenge`)
            yield* api.members.answer({ path: { memberGuid: guid(password) }, payload: { answers } })
          }

          const finals = new Map<Password, MemberDetail>()
          for (const { password } of cases) {
            const final = yield* Harness.eventually(
              `the ${password} member's run has ended`,
              Effect.map(
                detail(password),
                (d) =>
                  d.member.activeRunId === null && d.runs.length > 0 && d.runs.every((r) => r.endedAt !== null)
                    ? d
                    : undefined
              ),
              "30 seconds"
            )
            finals.set(password, final)
          }

          // --- every member reached its outcome, in one run: the one started before the kills.
          for (const { needsUser, outcome, password, status } of cases) {
            const { member, runs } = finals.get(password)!
            assert.strictEqual(member.connectionStatus, status, `${password}: connection status`)
            assert.strictEqual(member.needsUser, needsUser, `${password}: what the user must do`)
            assert.deepStrictEqual(runs.map((r) => r.outcome), [outcome], `${password}: one run, with its outcome`)
            const before = runsBefore.get(password)
            if (before !== undefined) assert.strictEqual(runs[0]!.runId, before, `${password}: the run survived`)
          }
          assert.isTrue(runsBefore.has("DELAYED"))
          for (const password of challenged) {
            assert.strictEqual(finals.get(password)!.runs[0]!.runId, pendingBefore.get(password)!.runId)
          }
          for (const password of ["password", "DELAYED", "challenge", "options"] as const) {
            const state = Option.getOrThrow(yield* sandbox.member(guid(password)))
            assert.strictEqual(state.successfulAggregations, 1, `${password}: aggregated successfully once`)
            assert.isAtLeast(exchanges.count("listTransactionsByMember", guid(password)), 1, `${password}: data pulled`)
          }

          // --- MX saw one aggregation per member, no delete, and each challenge answered exactly once.
          const stats = yield* sandbox.stats
          // Every member needs an aggregation of the worker's to reach its outcome (their creation skipped
          // MX's): as many started as there are members means exactly one each.
          assert.strictEqual(stats.aggregationsStarted, cases.length, "one aggregation started per member")
          assert.deepStrictEqual(stats.aggregationsByOrigin, { aggregate: cases.length })
          for (const { password } of cases) {
            assert.isAtLeast(exchanges.count("aggregateMember", guid(password)), 1, `${password}: aggregated`)
          }
          assert.deepStrictEqual(stats.deletes, { members: 0, users: 0 })
          assert.strictEqual(stats.resumesOutsideChallenged, 0)
          assert.strictEqual(stats.byOperation["resumeAggregation"], challenged.length, "each challenge answered once")
          for (const password of challenged) {
            assert.strictEqual(exchanges.count("resumeAggregation", guid(password)), 1)
          }
          assert.strictEqual(stats.aggregatesAfterAutomatic, 0)
          assert.strictEqual(stats.jobConflicts, 0)
          assert.isAtLeast(stats.minPollIntervalMs ?? Infinity, 3_000, "never polled sooner than 3 s (MX time)")
        }))
      }).pipe(Effect.provide(layer), Effect.scoped)
    },
    180_000
  )

  // A crash between claiming a member for a run (tracked_members.active_run_id) and recording the run
  // (aggregation_runs) leaves a claim no run will ever release: `Aggregations.recover` skips a claim
  // whose run it cannot find, and the scheduler never picks a claimed member. The test builds that
  // state in the database, starts the worker and expects the member to be aggregated.
  it.live(
    "a member claimed for a run that was never recorded is aggregated after a restart",
    () => {
      const { layer } = Harness.environment(sandboxOptions)
      return Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { members, userGuid } = yield* Harness.createMembers("claim-user", ["password"] as const)
        const memberGuid = members.get("password")!
        const dir = yield* Harness.tempDir("mx-crash-claim-")
        const sqliteFile = join(dir, "worker.db")
        const lostRun = AggregationRuns.RunId.make("run-never-recorded")

        // The state a worker killed right after `claim` leaves behind.
        yield* Effect.gen(function*() {
          const tracked = yield* TrackedMembers.TrackedMembers
          yield* tracked.trackMany([{ memberGuid, userGuid, institutionCode: null, nextDueAt: 0 }])
          assert.isTrue(yield* tracked.claim(memberGuid, lostRun))
        }).pipe(
          Effect.provide(Store.layer.pipe(Layer.provide(Database.layerSqlite({ filename: sqliteFile })))),
          Effect.scoped,
          Effect.orDie
        )

        const port = yield* freePort
        const env = yield* Harness.workerEnv({ timeScale, users: [userGuid], sqliteFile, port, token })
        const api = yield* Harness.controlApi(port, token)
        const workers = Harness.workerStarter(env, api)
        return yield* workers.printLogsOnFailure(Effect.gen(function*() {
          yield* workers.start
          const connected = yield* Harness.eventually(
            "the member's run has ended",
            Effect.map(
              api.members.get({ path: { memberGuid } }),
              (d) => d.member.activeRunId === null && d.runs.some((r) => r.outcome === "connected") ? d : undefined
            ),
            "8 seconds"
          ).pipe(Effect.catchIf((e) => e instanceof Harness.Timeout, () => Effect.succeed(undefined)))
          if (knownDefects.claimWithoutRunStaysClaimed) {
            assert.isUndefined(
              connected,
              "the defect looks fixed: set knownDefects.claimWithoutRunStaysClaimed to false"
            )
            const { member } = yield* api.members.get({ path: { memberGuid } })
            assert.strictEqual(member.activeRunId, lostRun, "known defect: the member stays claimed")
            assert.strictEqual((yield* sandbox.stats).aggregationsStarted, 0, "known defect: never aggregated")
          } else {
            assert.isDefined(connected, "the member was aggregated after the restart")
            assert.strictEqual(connected!.member.connectionStatus, "CONNECTED")
          }
        }))
      }).pipe(Effect.provide(layer), Effect.scoped)
    },
    60_000
  )

  // A crash after MX accepted `aggregate` and before the Aggregate activity's result reached the
  // journal: on restart the activity runs again and calls `aggregate` again. While MX still aggregates
  // that is harmless (202, no new job), but when the worker was down longer than the aggregation took,
  // MX starts a second aggregation. The proxy withholds MX's answer to the first `aggregate`, the
  // worker is killed, MX finishes, the worker starts again.
  it.live(
    "a crash right after MX accepted aggregate does not start a second aggregation",
    () => {
      const { layer } = Harness.environment(sandboxOptions)
      return Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { url } = yield* Sandbox.SandboxServer
        const { members, userGuid } = yield* Harness.createMembers("aggregate-crash-user", ["password"] as const)
        const memberGuid = members.get("password")!
        const proxy = yield* HoldingProxy.make(
          url,
          (method, path) => method === "POST" && path.includes(`/members/${memberGuid}/aggregate`)
        )
        const dir = yield* Harness.tempDir("mx-crash-aggregate-")
        const port = yield* freePort
        const env = yield* Harness.workerEnv({
          timeScale,
          users: [userGuid],
          sqliteFile: join(dir, "worker.db"),
          port,
          token,
          extra: { MX_BASE_URL: proxy.url }
        })
        const api = yield* Harness.controlApi(port, token)
        const workers = Harness.workerStarter(env, api)
        return yield* workers.printLogsOnFailure(Effect.gen(function*() {
          const firstWorker = yield* workers.start
          const held = yield* Deferred.await(proxy.held).pipe(Effect.timeout("20 seconds"))
          yield* firstWorker.kill
          assert.strictEqual(held.status, 202)
          assert.strictEqual((yield* sandbox.stats).aggregationsStarted, 1, "MX started the aggregation")
          // The worker stays down longer than the aggregation takes.
          yield* Harness.eventually(
            "MX finished the aggregation",
            Effect.map(sandbox.member(memberGuid), (s) => Option.getOrThrow(s).job === null ? true : undefined)
          )

          yield* workers.start
          const final = yield* Harness.eventually(
            "the member's run has ended",
            Effect.map(
              api.members.get({ path: { memberGuid } }),
              (d) =>
                d.member.activeRunId === null && d.runs.length > 0 && d.runs.every((r) => r.endedAt !== null)
                  ? d
                  : undefined
            )
          )
          assert.deepStrictEqual(final.runs.map((r) => r.outcome), ["connected"])
          const started = (yield* sandbox.stats).aggregationsStarted
          if (knownDefects.aggregateRepeatedAfterCrash) {
            assert.strictEqual(
              started,
              2,
              "the defect looks fixed: set knownDefects.aggregateRepeatedAfterCrash to false"
            )
          } else {
            assert.strictEqual(started, 1, "no second aggregation")
          }
        }))
      }).pipe(Effect.provide(layer), Effect.scoped)
    },
    60_000
  )
})
