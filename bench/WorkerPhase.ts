/**
 * The worker phase: the real worker (`Worker.layer`: engine, workflow, scheduler singleton, control
 * API) on a fresh SQLite file, against the sandbox child, driven until every member's run finished
 * CONNECTED with its data pulled. The scheduler discovers the users' members and starts the runs, as
 * in production; the benchmark only answers MFA challenges (`correct`) as soon as the store shows
 * them, the way a present user would through the control API.
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Member } from "@mx-aggregation/domain"
import { MxClient } from "@mx-aggregation/mx-api"
import { Database, PendingChallenges } from "@mx-aggregation/store"
import { Aggregations, EngineConfig, WebhookListener, Worker } from "@mx-aggregation/worker"
import { Context, Duration, Effect, Layer, Option, Redacted, Ref, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { loadavg } from "node:os"
import { join } from "node:path"
import * as Completion from "./Completion.js"
import type { Flags } from "./Flags.js"
import * as Phase from "./Phase.js"
import * as SandboxProcess from "./SandboxProcess.js"

/**
 * Answers every open challenge with `correct`, as soon as it is stored, on MX time. An answer that
 * failed for a transient reason (the resume call timed out, say) is tried again on the next pass, as a
 * user would; any other failure (MX answered 405: the member is no longer CHALLENGED) is final.
 */
const answerer = (clock: ReturnType<typeof Phase.mxClockOf>, answered: Ref.Ref<number>, failed: Ref.Ref<number>) =>
  Effect.gen(function*() {
    const pending = yield* PendingChallenges.PendingChallenges
    const aggregations = yield* Aggregations.Aggregations
    const done = new Set<number>()
    const attempts = new Map<number, number>()
    return yield* Effect.gen(function*() {
      const open = (yield* pending.listPending()).filter((p) => !done.has(p.id))
      yield* Effect.forEach(open, (p) => {
        const answers = p.challenges.map((c) =>
          Member.CredentialValue.make({ guid: Member.CredentialGuid.make(c.guid), value: Redacted.make("correct") })
        )
        return aggregations.answerChallenges(p.memberGuid, answers).pipe(
          Effect.withClock(clock),
          Effect.zipRight(Effect.sync(() => done.add(p.id))),
          Effect.zipRight(Ref.update(answered, (n) => n + 1)),
          Effect.catchAll((error) => {
            const tries = (attempts.get(p.id) ?? 0) + 1
            attempts.set(p.id, tries)
            const transient = error._tag === "MxApiError" &&
              ["Transport", "Unavailable", "RateLimited", "ServerError"].includes(error.reason)
            if (!transient || tries >= 5) done.add(p.id)
            const detail = error._tag === "MxApiError" ? `${error.reason} in ${error.operation}` : error._tag
            return Ref.update(failed, (n) => n + 1).pipe(
              Effect.zipRight(Effect.logWarning(`answering MFA failed: ${detail}`))
            )
          })
        )
      }, { concurrency: 16, discard: true })
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("MFA answerer pass failed", cause)),
      // 50 ms real is 0.5 s MX at time scale 10: a user answering at once.
      Effect.repeat(Schedule.spaced("50 millis"))
    )
  })

/**
 * Runs the worker phase.
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
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "mx-bench-"))),
      (path) =>
        Effect.sync(() => {
          if (process.env["BENCH_KEEP_DB"] === "1") process.stderr.write(`  kept the worker database in ${path}\n`)
          else rmSync(path, { recursive: true, force: true })
        })
    )
    const users = sandbox.users.map((u) => Member.UserGuid.make(u.userGuid))
    const mxClock = Phase.mxClockOf(sandbox, flags.timeScale)
    const webhookCredentials = { username: "mx", password: Redacted.make(randomBytes(24).toString("hex")) }
    const worker = Worker.layer({
      users,
      api: { token: Redacted.make("bench-token"), port: 0, host: "127.0.0.1" },
      webhooks: flags.webhooks ? { port: 0, host: "127.0.0.1", ...webhookCredentials } : undefined
    }).pipe(
      Layer.provide(MxClient.layer({
        baseUrl: sandbox.url,
        clientId: sandbox.clientId,
        apiKey: Redacted.make(sandbox.apiKey),
        requestsPerSecond: flags.rateLimit,
        maxConcurrency: flags.concurrency
      })),
      Layer.provide(EngineConfig.layer({
        timeScale: flags.timeScale,
        mxClock,
        maxConcurrentRuns: flags.maxRuns,
        // The scheduler repeats its pass on the real clock (Scheduler.loop: the Schedule sits outside
        // the MX clock), so its interval is given in real time here: 5 MX seconds, as by default.
        schedulerInterval: Duration.millis(Duration.toMillis(EngineConfig.defaults.schedulerInterval) / flags.timeScale)
      })),
      Layer.provideMerge(Database.layerSqlite({ filename: join(dir, "worker.sqlite") }))
    )

    const sandboxStart = sandbox.usage()
    const cpuStart = process.cpuUsage()
    const realStart = Date.now()
    const mxStart = mxClock.unsafeCurrentTimeMillis()
    const rss = yield* Phase.rssSampler
    const loop = yield* Phase.eventLoopMonitor

    const measured = yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(worker)
      if (flags.webhooks) {
        const address = Option.map(Context.getOption(context, WebhookListener.WebhookListener), (l) => l.address)
        const { password, username } = webhookCredentials
        if (Option.isSome(address) && address.value._tag === "TcpAddress") {
          sandbox.setWebhookUrl(
            `http://${username}:${Redacted.value(password)}@127.0.0.1:${address.value.port}${WebhookListener.path}`
          )
        }
      }
      return yield* Effect.gen(function*() {
        const answered = yield* Ref.make(0)
        const answerFailures = yield* Ref.make(0)
        yield* Effect.forkScoped(answerer(mxClock, answered, answerFailures))
        let last: Completion.Progress = { done: 0, tracked: 0 }
        let lastPrinted = 0
        const deadline = realStart + flags.timeoutSeconds * 1000
        while (Date.now() < deadline) {
          last = yield* Completion.progress
          if (last.done === flags.members) break
          if (Date.now() - lastPrinted > 5_000) {
            lastPrinted = Date.now()
            process.stderr.write(
              `  worker: ${last.done}/${flags.members} done, ${last.tracked} tracked, ` +
                `${((Date.now() - realStart) / 1000).toFixed(0)} s\n`
            )
          }
          yield* Effect.sleep("100 millis")
        }
        const realEnd = Date.now()
        const mxEnd = mxClock.unsafeCurrentTimeMillis()
        const cpuMs = Phase.cpuMsSince(cpuStart)
        const sandboxEnd = sandbox.usage()
        const stats = yield* Effect.promise(() => sandbox.stats())
        const timedOut = last.done !== flags.members
        const stuck = timedOut ? yield* Completion.describeStuck : []
        // Checked after the clock stopped: every member's data is in the store.
        const verified = yield* Completion.verify
        return {
          realEnd,
          mxEnd,
          cpuMs,
          sandboxEnd,
          stats,
          timedOut,
          stuck,
          verified,
          done: last.done,
          answered: yield* Ref.get(answered),
          answerFailures: yield* Ref.get(answerFailures)
        }
      }).pipe(Effect.provide(context))
    }))

    const result: Phase.Result = {
      name: "worker",
      members: flags.members,
      completed: measured.done,
      outcomes: measured.verified.outcomes,
      makespanRealMs: measured.realEnd - realStart,
      makespanMxMs: measured.mxEnd - mxStart,
      stats: measured.stats,
      cpuMs: measured.cpuMs,
      sandboxCpuMs: sandboxStart && measured.sandboxEnd ? measured.sandboxEnd.cpuMs - sandboxStart.cpuMs : null,
      peakRssBytes: rss.peak(),
      eventLoopDelay: loop.read(),
      loadAverage: loadavg()[0]!,
      mfaAnswered: measured.answered,
      timedOut: measured.timedOut,
      stuck: measured.stuck,
      warnings: logs.take(),
      notes: [
        ...Completion.notes(flags.members, measured.verified),
        ...(measured.answerFailures > 0
          ? [`MFA answers that failed (each try counted): ${measured.answerFailures}`]
          : [])
      ]
    }
    return result
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
