/**
 * The scheduler: a loop (a cluster singleton, so one runs across all replicas) that discovers the
 * configured users' members and starts a run for each due member, within the cap on concurrent runs.
 * Whether a run aggregates, only pulls, or does nothing is the policy's decision inside the run.
 *
 * @since 0.1.0
 */
import { Singleton } from "@effect/cluster"
import type { Member } from "@mx-aggregation/domain"
import { TrackedMembers } from "@mx-aggregation/store"
import { Cause, Clock, Duration, Effect, Exit, Schedule } from "effect"
import { Aggregations } from "./Aggregations.js"
import { EngineConfig } from "./EngineConfig.js"
import * as EngineWatchdog from "./EngineWatchdog.js"
import * as MxTime from "./MxTime.js"

/**
 * One pass: start runs for due members while there is capacity. Returns how many started.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const tick = Effect.gen(function*() {
  const tracked = yield* TrackedMembers.TrackedMembers
  const aggregations = yield* Aggregations
  const config = yield* EngineConfig
  const capacity = config.maxConcurrentRuns - (yield* tracked.listActive).length
  if (capacity <= 0) return 0
  const now = yield* Clock.currentTimeMillis
  const due = yield* tracked.listDue(now, capacity)
  let started = 0
  for (const member of due) {
    const result = yield* aggregations.start(member.memberGuid, "Scheduled").pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("could not start a run", error).pipe(
          Effect.annotateLogs({ memberGuid: member.memberGuid }),
          Effect.as(null)
        )
      )
    )
    if (result?._tag === "Started") started++
  }
  return started
})

/**
 * Users whose members are listed at once during discovery (the MX client's rate limit and concurrency
 * cap still apply).
 */
const discoveryConcurrency = 4

/**
 * The scheduler loop: discovery of the configured users' members (then the stale-run reaper and the
 * recovery of claimed runs) every 60
 * `schedulerInterval`s, and, on its own fiber beside it, a pass over the due members every
 * `schedulerInterval`: at thousands of users a discovery pass takes minutes, during which due members
 * must still start. Beside them, every 5 seconds, the `EngineWatchdog` redelivers runs whose wake-up
 * the workflow engine skipped. Failures are logged and the loops go on.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const loop = (users: ReadonlyArray<Member.UserGuid>) =>
  Effect.gen(function*() {
    const aggregations = yield* Aggregations
    const config = yield* EngineConfig
    // With several replicas the scheduler runs on one of them (a cluster singleton): say which.
    yield* Effect.logInfo("the scheduler runs on this replica")
    const recovered = yield* aggregations.recover.pipe(Effect.catchAll((e) => Effect.as(Effect.logWarning(e), 0)))
    if (recovered > 0) yield* Effect.logInfo(`restarted ${recovered} claimed run(s)`)
    const discovery = Effect.gen(function*() {
      yield* Effect.forEach(users, (userGuid) =>
        aggregations.discover(userGuid).pipe(
          Effect.tap((n) => n > 0 ? Effect.logInfo(`tracking ${n} new member(s) of ${userGuid}`) : Effect.void),
          Effect.catchAll((error) => Effect.logWarning("member discovery failed", error))
        ), { concurrency: discoveryConcurrency, discard: true })
      const reaped = yield* aggregations.reapStale.pipe(Effect.catchAll((e) => Effect.as(Effect.logWarning(e), 0)))
      if (reaped > 0) yield* Effect.logWarning(`stopped ${reaped} stale run(s)`)
      // A replica that died between recording a run and sending its workflow's first message left the
      // member claimed with nothing running: started again here, not only when the scheduler moves
      // (starting a workflow that runs already does nothing).
      yield* aggregations.recover.pipe(Effect.catchAll((e) => Effect.logWarning(e)))
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("discovery pass failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.times(config.schedulerInterval, 60)))
    )
    const passes = tick.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("scheduler pass failed", cause)),
      Effect.repeat(Schedule.spaced(config.schedulerInterval))
    )
    yield* Effect.all([
      Effect.all([discovery, passes], { concurrency: 2, discard: true }).pipe(
        // The intervals are MX time too.
        MxTime.within(config.mxClock)
      ),
      // Real time: the engine's claims of its messages are stamped by the database's clock.
      EngineWatchdog.loop({ every: "5 seconds", after: "10 seconds" })
    ], { concurrency: 2, discard: true })
  }).pipe(
    Effect.onExit((exit) =>
      Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
        ? Effect.logError("the scheduler stopped on this replica", exit.cause)
        : Effect.logInfo("the scheduler stopped on this replica")
    )
  )

/**
 * The scheduler as a cluster singleton.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (users: ReadonlyArray<Member.UserGuid>) => Singleton.make("mx-aggregation-scheduler", loop(users))
