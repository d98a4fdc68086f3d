/**
 * The naive baseline: what MX's sample app does, for `--max-runs` members at a time: call aggregate, then read
 * the member's status every 3 s (MX time) until it settles, answer a challenge when one appears
 * (list challenges, resume with `correct`), and once CONNECTED list the accounts and transactions.
 * Same sandbox settings, same members (a fresh sandbox child), same client limits as the worker.
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Clock, Duration, Effect, Redacted, Ref, Stream } from "effect"
import { loadavg } from "node:os"
import type { Flags } from "./Flags.js"
import * as Phase from "./Phase.js"
import * as SandboxProcess from "./SandboxProcess.js"

/** The sample app's fixed polling interval. */
const pollEvery = Duration.seconds(3)

/** The sample app gives up on a member after this much MX time. */
const giveUpAfter = Duration.minutes(15)

const transient = new Set(["CREATED", "UPDATED", "RESUMED", "DELAYED", "RECONNECTED"])

/** One member, start to finish; returns how it ended. */
const member = (ref: MxClient.MemberRef, answered: Ref.Ref<number>) =>
  Effect.gen(function*() {
    const mx = yield* MxClient.MxClient
    yield* mx.aggregateMember(ref)
    // The loop runs on MX time: the deadline is MX time too.
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(giveUpAfter)
    for (;;) {
      yield* Effect.sleep(pollEvery)
      const status = yield* mx.readMemberStatus(ref)
      const name = status.connection_status
      if (name === "CHALLENGED") {
        const challenges = yield* mx.listMemberChallenges(ref)
        if (challenges.length === 0) continue
        const answers = challenges.map((c) =>
          Member.CredentialValue.make({ guid: Member.CredentialGuid.make(c.guid), value: Redacted.make("correct") })
        )
        yield* mx.resumeAggregation({ ...ref, answers })
        yield* Ref.update(answered, (n) => n + 1)
        continue
      }
      if (name === "CONNECTED" && status.is_being_aggregated === false) break
      // MX not saying whether it aggregates (null) counts as still aggregating, as in the domain's rules.
      if (status.is_being_aggregated !== false || (name !== null && transient.has(name))) {
        if ((yield* Clock.currentTimeMillis) > deadline) return "gave up polling"
        continue
      }
      return `ended ${name ?? "null"}`
    }
    yield* Stream.runDrain(mx.listMemberAccounts(ref))
    yield* Stream.runDrain(mx.listTransactionsByMember(ref))
    return "connected"
  }).pipe(Effect.catchAll((error) => Effect.succeed(`error ${error.reason} in ${error.operation}`)))

/**
 * Runs the naive baseline.
 *
 * @since 0.1.0
 * @category phases
 */
export const run = (flags: Flags, logs: Phase.Logs) =>
  Effect.gen(function*() {
    const sandbox = yield* Effect.acquireRelease(
      Effect.promise(() => SandboxProcess.start(SandboxProcess.settingsFor(flags))),
      (handle) => Effect.promise(() => handle.stop())
    )
    const mxClock = Phase.mxClockOf(sandbox, flags.timeScale)
    const mx = yield* MxClient.make({
      baseUrl: sandbox.url,
      clientId: sandbox.clientId,
      apiKey: Redacted.make(sandbox.apiKey),
      requestsPerSecond: flags.rateLimit,
      maxConcurrency: flags.concurrency
    })
    const answered = yield* Ref.make(0)
    const refs = sandbox.users.flatMap((u) =>
      u.members.map((m) => ({ userGuid: Member.UserGuid.make(u.userGuid), memberGuid: Member.MemberGuid.make(m.guid) }))
    )
    const sandboxStart = sandbox.usage()
    const cpuStart = process.cpuUsage()
    const realStart = Date.now()
    const mxStart = mxClock.unsafeCurrentTimeMillis()
    const rss = yield* Phase.rssSampler
    const loop = yield* Phase.eventLoopMonitor
    const ended = yield* Effect.forEach(refs, (ref) => member(ref, answered), { concurrency: flags.maxRuns }).pipe(
      Effect.provideService(MxClient.MxClient, mx),
      Effect.withClock(mxClock),
      Effect.timeout(Duration.seconds(flags.timeoutSeconds)),
      Effect.option
    )
    const realEnd = Date.now()
    const mxEnd = mxClock.unsafeCurrentTimeMillis()
    const cpuMs = Phase.cpuMsSince(cpuStart)
    const sandboxEnd = sandbox.usage()
    const stats = yield* Effect.promise(() => sandbox.stats())
    const outcomes: Record<string, number> = {}
    for (const outcome of ended._tag === "Some" ? ended.value : []) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    const result: Phase.Result = {
      name: "naive",
      members: flags.members,
      completed: outcomes["connected"] ?? 0,
      outcomes,
      makespanRealMs: realEnd - realStart,
      makespanMxMs: mxEnd - mxStart,
      stats,
      cpuMs,
      sandboxCpuMs: sandboxStart && sandboxEnd ? sandboxEnd.cpuMs - sandboxStart.cpuMs : null,
      peakRssBytes: rss.peak(),
      eventLoopDelay: loop.read(),
      loadAverage: loadavg()[0]!,
      mfaAnswered: yield* Ref.get(answered),
      timedOut: ended._tag === "None",
      stuck: ended._tag === "None" ? [`the naive loops did not finish within ${flags.timeoutSeconds} s`] : [],
      warnings: logs.take(),
      notes: []
    }
    return result
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
