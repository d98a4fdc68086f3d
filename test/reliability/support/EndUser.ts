/**
 * The simulated end users: they watch the worker's pending challenges (through any running replica's
 * control API) and answer them after a human-like pause, as their member's plan says. Like a person
 * whose "submit" failed, they submit again when the answer's response was lost (the replica died
 * mid-request) and the challenge is still offered.
 */
import { Member } from "@mx-aggregation/domain"
import { MxBank } from "@mx-aggregation/mx-sandbox"
import { Array as Arr, Effect, Fiber, Redacted, type Scope } from "effect"
import type * as Fleet from "./Fleet.js"
import type * as Population from "./Population.js"
import type * as Rng from "./Rng.js"

/** What the end users did. */
export interface EndUsers {
  /** Challenge rounds seen per member guid (each a list of challenge guids). */
  readonly roundsSeen: (memberGuid: string) => ReadonlyArray<string>
  /** Rounds answered (MX accepted the resume as far as the user could tell) per member guid. */
  readonly roundsAnswered: (memberGuid: string) => number
  /** Answers submitted again because the first submission got no response. */
  readonly resubmissions: () => number
  /** Answers the worker refused as invalid (a defect: the user answered what was asked). */
  readonly refused: () => ReadonlyArray<string>
  /** Members whose new credentials the worker accepted. */
  readonly credentialsFixed: () => number
}

interface Round {
  readonly memberGuid: string
  readonly key: string
  readonly index: number
  dueAt: number
  state: "waiting" | "sending" | "done"
  attempts: number
}

/** Starts the end users; they stop with the scope. */
export const start = (options: {
  readonly fleet: Fleet.Fleet
  readonly members: ReadonlyArray<Population.PlannedMember>
  readonly rng: Rng.Rng
  /** The pause before answering, real milliseconds. */
  readonly thinkMs?: readonly [number, number] | undefined
  /** Submit again when an answer got no response (default `true`, as people do). */
  readonly resubmit?: boolean | undefined
}): Effect.Effect<EndUsers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const plans = new Map(options.members.map((m) => [m.memberGuid as string, m]))
    const rounds = new Map<string, Round>()
    const seen = new Map<string, Array<string>>()
    const answered = new Map<string, number>()
    const refused: Array<string> = []
    let resubmissions = 0
    const fixing = new Set<string>()
    const fixed = new Set<string>()
    const [thinkMin, thinkMax] = options.thinkMs ?? [100, 700]

    const valueFor = (plan: Population.PlannedMember, round: number): string => {
      switch (plan.mfa ?? "correct") {
        case "two-rounds":
          return round === 0 ? MxBank.nextRoundAnswer : MxBank.correctAnswer
        case "wrong":
          return "not-the-answer"
        default:
          return MxBank.correctAnswer
      }
    }

    const send = (round: Round, plan: Population.PlannedMember, challenges: ReadonlyArray<Member.Challenge>) => {
      const api = options.rng.pick(options.fleet.runningApis())
      const value = valueFor(plan, round.index)
      const answers = challenges.map((c) => Member.CredentialValue.make({ guid: c.guid, value: Redacted.make(value) }))
      if (!Arr.isNonEmptyReadonlyArray(answers)) return Effect.void
      round.attempts++
      if (round.attempts > 1) resubmissions++
      return api.members.answer({ path: { memberGuid: round.memberGuid as Member.MemberGuid }, payload: { answers } })
        .pipe(
          Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => ({ _tag: "Timeout" as const, message: "" }) }),
          Effect.matchEffect({
            onSuccess: () =>
              Effect.sync(() => {
                round.state = "done"
                answered.set(round.memberGuid, (answered.get(round.memberGuid) ?? 0) + 1)
              }),
            onFailure: (error) =>
              Effect.sync(() => {
                switch (error._tag) {
                  // No longer waiting (answered through another replica, superseded or expired).
                  case "Conflict":
                    round.state = "done"
                    return
                  case "Invalid":
                    refused.push(`${plan.label}: ${error.message}`)
                    round.state = "done"
                    return
                  default:
                    // No response (the replica died), or MX failed: submit again a little later.
                    round.state = options.resubmit === false ? "done" : "waiting"
                    round.dueAt = Date.now() + 300
                }
              })
          })
        )
    }

    // A user asked for credentials submits new ones: the member's own credential fields, filled in.
    const fixCredentials = (plan: Population.PlannedMember) =>
      Effect.gen(function*() {
        const api = options.rng.pick(options.fleet.runningApis())
        const fields = yield* api.members.credentialFields({ path: { memberGuid: plan.memberGuid } })
        const values = fields.map((field) =>
          Member.CredentialValue.make({
            guid: field.guid,
            value: Redacted.make(field.type === "LOGIN" ? MxBank.username : `fixed-${plan.memberGuid.slice(-8)}`)
          })
        )
        if (!Arr.isNonEmptyReadonlyArray(values)) return
        yield* api.members.updateCredentials({
          path: { memberGuid: plan.memberGuid },
          payload: { credentials: values }
        })
        fixed.add(plan.memberGuid)
      }).pipe(
        Effect.timeout("30 seconds"),
        Effect.catchAllCause(() => Effect.void),
        Effect.ensuring(Effect.sync(() => fixing.delete(plan.memberGuid)))
      )

    const scope = yield* Effect.scope
    const pass = Effect.gen(function*() {
      const api = options.fleet.anyApi()
      // A trial has far fewer members than a page holds.
      const pending = yield* api.members.pendingChallenges({ urlParams: { limit: 1000 } }).pipe(
        Effect.map((page) => page.challenges),
        Effect.orElseSucceed(() => [])
      )
      const now = Date.now()
      const sends: Array<Effect.Effect<void>> = []
      for (const view of pending) {
        const plan = plans.get(view.memberGuid)
        if (plan === undefined || plan.mfa === "never") continue
        const key = view.challenges.map((c) => c.guid).join(",")
        // A prompt is the worker's round: the same questions asked again by a new run (the round of a
        // run that ended was cancelled) are a new prompt, answered as the first time they were seen.
        const id = `${view.memberGuid}/${view.runId}/${key}`
        let round = rounds.get(id)
        if (round === undefined) {
          const list = seen.get(view.memberGuid) ?? []
          if (!list.includes(key)) list.push(key)
          seen.set(view.memberGuid, list)
          round = {
            memberGuid: view.memberGuid,
            key,
            index: list.indexOf(key),
            dueAt: now + options.rng.int(thinkMin, thinkMax),
            state: "waiting",
            attempts: 0
          }
          rounds.set(id, round)
        }
        if (round.state === "waiting" && round.dueAt <= now) {
          round.state = "sending"
          sends.push(send(round, plan, view.challenges))
        }
      }
      // Each answer on its own fiber: one that hangs (its replica is about to be killed) blocks nobody.
      for (const send of sends) yield* Effect.forkIn(send, scope)
      const waitingForCredentials = options.members.filter((m) =>
        m.fixCredentials === true && !fixed.has(m.memberGuid) && !fixing.has(m.memberGuid)
      )
      if (waitingForCredentials.length > 0) {
        const views = yield* api.members.list({ urlParams: { limit: 1000 } }).pipe(
          Effect.map((page) => page.members),
          Effect.orElseSucceed(() => [])
        )
        for (const plan of waitingForCredentials) {
          const view = views.find((v) => v.memberGuid === plan.memberGuid)
          if (view?.needsUser !== "credentials" || view.activeRunId !== null) continue
          fixing.add(plan.memberGuid)
          yield* Effect.forkIn(fixCredentials(plan), scope)
        }
      }
    })

    const fiber = yield* Effect.forkScoped(
      pass.pipe(Effect.catchAllCause(() => Effect.void), Effect.zipRight(Effect.sleep("150 millis")), Effect.forever)
    )
    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
    return {
      roundsSeen: (memberGuid) => seen.get(memberGuid) ?? [],
      roundsAnswered: (memberGuid) => answered.get(memberGuid) ?? 0,
      resubmissions: () => resubmissions,
      refused: () => [...refused],
      credentialsFixed: () => fixed.size
    }
  })
