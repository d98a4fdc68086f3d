/**
 * Crash recovery: the worker daemon runs as a child process against the MX sandbox served on
 * 127.0.0.1, and is killed with SIGKILL twice: while runs are polling MX (a DELAYED member mid-poll)
 * and while members wait for MFA answers. Each time it is started again on the same SQLite file and
 * port. Every member must still reach its outcome, with exactly one aggregation started per member,
 * the same run carried across the kills, and the pending challenges remembered and answerable after
 * the restart.
 */
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { MxBank, type Options, Sandbox } from "@mx-aggregation/mx-sandbox"
import { ControlApi, type MemberDetail, type PendingChallengeView } from "@mx-aggregation/worker/ControlApi"
import { Array as Arr, Cause, type Duration, Effect, Layer, Option, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as WorkerProcess from "./support/workerProcess.js"

/** MX seconds per real second: a 60 s aggregation takes 1.2 s, the 3 s polling floor 60 ms. */
const timeScale = 50
const token = "crash-recovery-token"

/** The MX Bank password of each member, and the outcome the worker must reach for it. */
const cases = [
  { password: "password", status: "CONNECTED", outcome: "connected", needsUser: null },
  // DELAYED for 12 minutes of MX time (14 s): still being polled at both kills.
  { password: "DELAYED", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "challenge", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "options", status: "CONNECTED", outcome: "connected", needsUser: null },
  { password: "UNAUTHORIZED", status: "DENIED", outcome: "credentials_required", needsUser: "credentials" },
  { password: "LOCKED", status: "LOCKED", outcome: "institution_action_required", needsUser: "institution" }
] as const

type Password = typeof cases[number]["password"]

/** Every exchange the sandbox answered (the sandbox runs once, for the one test of this file). */
const exchanges: Array<Options.Exchange> = []

const sandboxLayer = Sandbox.layerServer({
  timeScale,
  seed: "crash-recovery",
  aggregationDuration: "60 seconds",
  delayedDuration: "12 minutes",
  // Longer than the worker's MFA timeout (below), which is longer than the test.
  mfaTimeout: "2 hours",
  background: { enabled: false },
  observe: (exchange) => exchanges.push(exchange)
})

const memberOf = (url: string): string | undefined => /\/members\/([^/?]+)/.exec(url)?.[1]

/** How many calls of `operationId` the sandbox answered for `memberGuid`, from the `from`-th exchange on. */
const callsOf = (operationId: string, memberGuid: string, from = 0) =>
  exchanges.slice(from).filter((e) => e.operationId === operationId && memberOf(e.url) === memberGuid).length

class Timeout extends Error {}

/** Repeats `check` every 50 ms until it yields a value, failing after `within`. */
const eventually = <A, E, R>(
  label: string,
  check: Effect.Effect<A | undefined, E, R>,
  within: Duration.DurationInput = "20 seconds"
) =>
  Effect.gen(function*() {
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("50 millis")
    }
  }).pipe(Effect.timeoutFail({ duration: within, onTimeout: () => new Timeout(`timed out waiting until ${label}`) }))

describe("worker crash recovery", () => {
  it.live(
    "SIGKILL mid-poll and mid-MFA-wait: every member reaches its outcome, one aggregation each",
    () => {
      const workers: Array<WorkerProcess.WorkerProcess> = []
      return Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { url } = yield* Sandbox.SandboxServer

        // Two users; the members skip MX's creation aggregation, so that the worker's runs start the only ones.
        const first = yield* sandbox.createUser({ id: "crash-user-1" })
        const second = yield* sandbox.createUser({ id: "crash-user-2" })
        const members = new Map<Password, string>()
        for (const [i, { password }] of cases.entries()) {
          const member = yield* sandbox.createMember(i < 3 ? first.guid : second.guid, {
            username: MxBank.username,
            password,
            skipAggregation: true
          })
          members.set(password, member.guid)
        }
        const guid = (password: Password) => Member.MemberGuid.make(members.get(password)!)

        // The sandbox's MX time is origin + (real - origin) * scale: solve for the origin.
        const mxNow = (yield* sandbox.now).getTime()
        const realNow = Date.now()
        const origin = Math.round((realNow * timeScale - mxNow) / (timeScale - 1))

        const dir = mkdtempSync(join(tmpdir(), "mx-crash-recovery-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const port = yield* WorkerProcess.freePort
        const env = {
          MX_BASE_URL: url,
          MX_CLIENT_ID: sandbox.credentials.clientId,
          MX_API_KEY: Redacted.value(sandbox.credentials.apiKey),
          WORKER_API_TOKEN: token,
          WORKER_USERS: `${first.guid},${second.guid}`,
          WORKER_PORT: String(port),
          WORKER_HOST: "127.0.0.1",
          WORKER_TIME_SCALE: String(timeScale),
          WORKER_TIME_ORIGIN: String(origin),
          WORKER_MFA_TIMEOUT: "100 minutes",
          SQLITE_FILE: join(dir, "worker.db"),
          DATABASE_URL: undefined
        }

        const api = yield* HttpApiClient.make(ControlApi, {
          baseUrl: `http://127.0.0.1:${port}`,
          transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
        })
        const startWorker = Effect.gen(function*() {
          const worker = yield* WorkerProcess.start(env)
          workers.push(worker)
          yield* eventually(
            "the control API answers",
            api.health.health().pipe(
              Effect.as(true),
              Effect.catchAll(() =>
                worker.exited()
                  ? Effect.die(new Error(`the worker exited during start-up:\n${worker.output()}`))
                  : Effect.succeed(undefined)
              )
            )
          )
          return worker
        })
        const detail = (password: Password) => api.members.get({ path: { memberGuid: guid(password) } })
        const activeRun = (password: Password) =>
          detail(password).pipe(Effect.map((d) => d.member.activeRunId ?? undefined))
        const pendingChallenge = (password: Password) =>
          api.members.challenges({ path: { memberGuid: guid(password) } }).pipe(
            Effect.map((view): PendingChallengeView | undefined => view),
            Effect.catchTag("NotFound", () => Effect.succeed(undefined))
          )
        const phase = (password: Password) =>
          sandbox.member(guid(password)).pipe(
            Effect.map(Option.flatMap((state) => Option.fromNullable(state.job?.phase))),
            Effect.map(Option.getOrNull)
          )

        // --- first start: wait until the DELAYED member's run is polling MX, then kill.
        const t0 = Date.now()
        const mark = (label: string) => Effect.sync(() => console.log(`T+${Date.now() - t0} ${label}`))
        const firstWorker = yield* startWorker
        yield* mark("worker 1 up")
        const delayedRun = yield* eventually("the DELAYED member's run has started", activeRun("DELAYED"))
        yield* eventually(
          "the DELAYED member is being polled",
          Effect.map(
            phase("DELAYED"),
            (p) => p === "delayed" && callsOf("readMemberStatus", guid("DELAYED")) > 0 ? true : undefined
          )
        )
        const runsBefore = new Map<Password, string>()
        for (const { password } of cases) {
          const run = yield* activeRun(password)
          if (run !== undefined) runsBefore.set(password, run)
        }
        yield* mark("kill A")
        yield* firstWorker.kill
        assert.strictEqual(yield* phase("DELAYED"), "delayed", "the kill landed while MX was still aggregating")

        // --- second start: wait until both challenged members wait for answers, then kill.
        const killedAt = exchanges.length
        const secondWorker = yield* startWorker
        yield* mark("worker 2 up")
        const pendingBefore = new Map<Password, PendingChallengeView>()
        for (const password of ["challenge", "options"] as const) {
          const view = yield* eventually(`the ${password} member waits for MFA answers`, pendingChallenge(password))
          pendingBefore.set(password, view)
        }
        const delayedPolledAgain = callsOf("readMemberStatus", guid("DELAYED"), killedAt) > 0
        yield* mark("kill B")
        yield* secondWorker.kill

        // --- third start: the challenges survived; answer them, then every member must reach its outcome.
        yield* startWorker
        yield* mark("worker 3 up")
        for (const password of ["challenge", "options"] as const) {
          const view = yield* pendingChallenge(password)
          assert.isDefined(view, `the ${password} member's challenge survived the kill`)
          assert.strictEqual(view!.runId, pendingBefore.get(password)!.runId, "the same run still waits")
          assert.strictEqual(yield* activeRun(password), view!.runId)
          // TEXT: the answer itself; OPTIONS: the value of the option to choose. `correct` in both cases.
          const answers = view!.challenges.map((c) =>
            Member.CredentialValue.make({ guid: c.guid, value: Redacted.make(MxBank.correctAnswer) })
          )
          if (!Arr.isNonEmptyReadonlyArray(answers)) return yield* Effect.dieMessage(`${password}: no challenge`)
          yield* api.members.answer({ path: { memberGuid: guid(password) }, payload: { answers } })
        }
        const finals = new Map<Password, MemberDetail>()
        for (const { password } of cases) {
          const final = yield* eventually(
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

        yield* mark("all ended")
        // --- every member reached its outcome, in one run (the one started before the kills).
        for (const { needsUser, outcome, password, status } of cases) {
          const { member, runs } = finals.get(password)!
          assert.strictEqual(member.connectionStatus, status, `${password}: connection status`)
          assert.strictEqual(member.needsUser, needsUser, `${password}: what the user must do`)
          assert.deepStrictEqual(runs.map((r) => r.outcome), [outcome], `${password}: one run, with its outcome`)
          const before = runsBefore.get(password)
          if (before !== undefined) assert.strictEqual(runs[0]!.runId, before, `${password}: the run survived`)
        }
        assert.strictEqual(runsBefore.get("DELAYED"), delayedRun)
        for (const password of ["challenge", "options"] as const) {
          assert.strictEqual(finals.get(password)!.runs[0]!.runId, pendingBefore.get(password)!.runId)
        }
        for (const password of ["password", "DELAYED", "challenge", "options"] as const) {
          const state = Option.getOrThrow(yield* sandbox.member(guid(password)))
          assert.strictEqual(state.successfulAggregations, 1, `${password}: aggregated once`)
        }

        // --- MX saw one aggregation per member, no delete, and each challenge answered exactly once.
        const stats = yield* sandbox.stats
        assert.strictEqual(stats.aggregationsStarted, cases.length, "one aggregation started per member")
        assert.deepStrictEqual(stats.aggregationsByOrigin, { aggregate: cases.length })
        for (const { password } of cases) {
          assert.isAtLeast(callsOf("aggregateMember", guid(password)), 1, `${password}: aggregated by the worker`)
        }
        assert.deepStrictEqual(stats.deletes, { members: 0, users: 0 })
        assert.strictEqual(stats.resumesOutsideChallenged, 0)
        assert.strictEqual(stats.byOperation["resumeAggregation"], 2, "each challenge answered once")
        assert.strictEqual(stats.aggregatesAfterAutomatic, 0)
        assert.strictEqual(stats.jobConflicts, 0)
        assert.isAtLeast(stats.minPollIntervalMs ?? Infinity, 3_000, "never polled sooner than 3 s (MX time)")
        yield* Effect.sync(() =>
          console.log(workers.map((w, i) => `--- worker #${i + 1} ---\n${w.output()}`).join("\n"))
        )
        console.log(JSON.stringify({ delayedPolledAgain, runsBefore: [...runsBefore], stats }, null, 1))
        // Informative: whether the second kill also cut the DELAYED member's polling.
        if (!delayedPolledAgain) yield* Effect.logDebug("the DELAYED member was not polled between the kills")
      }).pipe(
        Effect.tapErrorCause((cause) =>
          Effect.sync(() => {
            const logs = workers.map((w, i) => `--- worker #${i + 1} (pid ${w.pid}) ---\n${w.output()}`).join("\n")
            console.error(`${Cause.pretty(cause)}\n${logs}`)
          })
        ),
        Effect.provide(Layer.merge(sandboxLayer, NodeHttpClient.layerUndici)),
        Effect.scoped
      )
    },
    60_000
  )
})
