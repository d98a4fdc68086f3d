/**
 * A reference model of MX's aggregation state machine for one member, and an agent that follows
 * `NextAction`. Used by the project's model-based tests and exported for users' own property tests:
 * drive the model into any reachable state with `environmentCommands`, then check that a partner
 * following the rules reaches CONNECTED or a documented end state without breaking MX's rules.
 *
 * The model is discrete: one `tick` is one status poll's worth of MX time.
 *
 * @since 0.1.0
 */
import { FastCheck as fc } from "effect"
import type * as ConnectionStatus from "../ConnectionStatus.js"
import * as NextAction from "../NextAction.js"

/**
 * How the institution behaves for this member.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bank {
  /** MFA rounds each aggregation asks for (0 = none). */
  mfaRounds: number
  credentials: "valid" | "invalid" | "missing"
  institution: "ok" | "locked" | "impeded" | "down" | "discontinued"
}

/**
 * A call made against the model, for checking rules afterwards.
 *
 * @since 0.1.0
 * @category models
 */
export type Call =
  | { readonly op: "aggregate"; readonly startedNew: boolean; readonly afterCredentialUpdate: boolean }
  | { readonly op: "resume"; readonly status: ConnectionStatus.NullableReportedStatus; readonly correct: boolean }
  | { readonly op: "updateCredentials"; readonly valid: boolean; readonly skipAggregation: boolean }
  | { readonly op: "listMemberCredentials" }
  | { readonly op: "listChallenges" }
  | { readonly op: "delete" }
  | { readonly op: "tick" }

/**
 * MX's aggregation state machine for one member.
 *
 * @since 0.1.0
 * @category models
 */
export class MxModel {
  status: ConnectionStatus.NullableConnectionStatus = "CREATED"
  isBeingAggregated = false
  successfullyAggregatedAt: number | null = null
  clock = 0
  deniedStreak = 0
  roundsLeft = 0
  challengeAge = 0
  /** The running aggregation was started by a credential update (MX's automatic aggregation). */
  startedByCredentialUpdate = false
  /**
   * The running aggregation itself reached CONNECTED (it finishes on the next tick). A CONNECTED left
   * over from a past aggregation does not count: a new aggregation consults the bank again (MFA,
   * a password changed at the bank, a lock), as MX does.
   */
  connectedThisRun = false
  aggregationsStarted = 0
  readonly calls: Array<Call> = []

  constructor(
    readonly bank: Bank = { mfaRounds: 0, credentials: "valid", institution: "ok" },
    /** Ticks a challenge waits for answers before the member turns EXPIRED. */
    readonly mfaTimeoutTicks = 5
  ) {
    // Creating a member with credentials starts an aggregation (MX's automatic aggregation).
    this.start("CREATED", false)
  }

  /** What a partner can read of the member. */
  observe(): NextAction.Observation {
    return {
      connection_status: this.status,
      is_being_aggregated: this.isBeingAggregated,
      aggregated_at: null,
      successfully_aggregated_at: this.successfullyAggregatedAt === null
        ? null
        : new Date(this.successfullyAggregatedAt * 1000).toISOString()
    }
  }

  private start(status: ConnectionStatus.ConnectionStatus, byCredentialUpdate: boolean) {
    this.status = status
    this.isBeingAggregated = true
    this.roundsLeft = this.bank.mfaRounds
    this.startedByCredentialUpdate = byCredentialUpdate
    this.connectedThisRun = false
    this.aggregationsStarted++
  }

  /** `POST …/aggregate`: starts an aggregation unless one runs (MX answers 202 either way). */
  aggregate(): void {
    const startedNew = !this.isBeingAggregated
    this.calls.push({ op: "aggregate", startedNew, afterCredentialUpdate: this.startedByCredentialUpdate })
    // As MX's sandbox behaviour shows, the previous status stays until the new job moves it on (only
    // `is_being_aggregated` changes at once); a member never aggregated reads CREATED.
    if (startedNew) this.start(this.status ?? "CREATED", false)
  }

  /** `PUT …/resume`: only a CHALLENGED member resumes (MX answers 405 otherwise). */
  resume(correct: boolean): boolean {
    this.calls.push({ op: "resume", status: this.status, correct })
    if (this.status !== "CHALLENGED") return false
    if (correct) {
      this.roundsLeft--
      this.status = "RESUMED"
    } else {
      this.status = "REJECTED"
      this.isBeingAggregated = false
    }
    return true
  }

  /** `PUT …/members/{guid}` with credentials: starts an aggregation unless `skip_aggregation`. */
  updateCredentials(valid: boolean, skipAggregation = false): void {
    this.calls.push({ op: "updateCredentials", valid, skipAggregation })
    this.bank.credentials = valid ? "valid" : "invalid"
    if (valid) this.deniedStreak = 0
    if (!skipAggregation) this.start("UPDATED", true)
  }

  /** `GET …/credentials`. */
  listMemberCredentials(): void {
    this.calls.push({ op: "listMemberCredentials" })
  }

  /** `GET …/challenges`: 204 (none) unless CHALLENGED. */
  listChallenges(): number {
    this.calls.push({ op: "listChallenges" })
    return this.status === "CHALLENGED" ? 1 : 0
  }

  /** `DELETE …/members/{guid}`: present so that a test can prove it is never called. */
  delete(): void {
    this.calls.push({ op: "delete" })
  }

  private end(status: ConnectionStatus.ConnectionStatus) {
    this.status = status
    this.isBeingAggregated = false
    this.startedByCredentialUpdate = false
  }

  /** One poll's worth of MX time: the running aggregation moves one step. */
  tick(): void {
    this.calls.push({ op: "tick" })
    this.clock++
    if (!this.isBeingAggregated) return
    if (this.status === "CHALLENGED") {
      if (++this.challengeAge >= this.mfaTimeoutTicks) this.end("EXPIRED")
      return
    }
    if (this.status === "CONNECTED" && this.connectedThisRun) {
      this.successfullyAggregatedAt = this.clock
      return this.end("CONNECTED")
    }
    const bank = this.bank
    if (bank.institution === "discontinued") return this.end("DISCONTINUED")
    if (bank.credentials === "missing") return this.end("IMPAIRED")
    if (bank.credentials === "invalid") return this.end(++this.deniedStreak >= 3 ? "PREVENTED" : "DENIED")
    if (bank.institution === "locked") return this.end("LOCKED")
    if (bank.institution === "impeded") return this.end("IMPEDED")
    if (bank.institution === "down") return this.end("FAILED")
    if (this.roundsLeft > 0) {
      this.status = "CHALLENGED"
      this.challengeAge = 0
      return
    }
    this.deniedStreak = 0
    this.status = "CONNECTED"
    this.connectedThisRun = true
  }
}

/**
 * Something that happens to a member outside the partner's control (the bank, MX, the user elsewhere),
 * as a fast-check command over the model.
 *
 * @since 0.1.0
 * @category commands
 */
export class EnvironmentCommand implements fc.Command<object, MxModel> {
  constructor(readonly name: string, readonly apply: (model: MxModel) => void) {}
  check(): boolean {
    return true
  }
  run(_: object, model: MxModel): void {
    this.apply(model)
  }
  toString(): string {
    return this.name
  }
}

/**
 * Commands that reach every state of the model: aggregations, time, wrong MFA answers, MFA
 * timeouts, credentials changed at the bank, locks, outages, discontinued institutions.
 *
 * @since 0.1.0
 * @category commands
 */
export const environmentCommand: fc.Arbitrary<EnvironmentCommand> = fc.oneof(
  fc.constant(new EnvironmentCommand("aggregate", (m) => m.aggregate())),
  fc.constant(new EnvironmentCommand("tick", (m) => m.tick())),
  fc.constant(new EnvironmentCommand("answerWrong", (m) => void (m.status === "CHALLENGED" && m.resume(false)))),
  fc.constant(
    new EnvironmentCommand("mfaTimeout", (m) => {
      for (let i = 0; i < m.mfaTimeoutTicks && m.status === "CHALLENGED"; i++) m.tick()
    })
  ),
  fc.integer({ min: 0, max: 3 }).map((n) =>
    new EnvironmentCommand(`mfaRounds(${n})`, (m) => void (m.bank.mfaRounds = n))
  ),
  fc.constantFrom("valid" as const, "invalid" as const, "missing" as const).map((c) =>
    new EnvironmentCommand(`credentials(${c})`, (m) => void (m.bank.credentials = c))
  ),
  fc.constantFrom("ok" as const, "locked" as const, "impeded" as const, "down" as const, "discontinued" as const).map((
    i
  ) => new EnvironmentCommand(`institution(${i})`, (m) => void (m.bank.institution = i)))
)

/**
 * A sequence of environment commands (fast-check `commands`).
 *
 * @since 0.1.0
 * @category commands
 */
export const environmentCommands = (maxCommands = 30): fc.Arbitrary<Iterable<fc.Command<object, MxModel>>> =>
  fc.commands([environmentCommand], { maxCommands })

/**
 * How an agent's run ended.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentReport {
  readonly outcome: "Connected" | "Stopped" | "NotAggregatable" | "AwaitingOAuth" | "StepLimit"
  readonly steps: number
  readonly actions: ReadonlyArray<
    { readonly status: ConnectionStatus.NullableReportedStatus; readonly action: NextAction.NextAction }
  >
}

/**
 * A partner following `NextAction` with a cooperative end user: polls until the member is settled
 * (`NextAction.isSettled`), then answers challenges correctly,
 * enters valid credentials when asked (after listing the member's credentials), is present for a new
 * aggregation, clears locks at the institution, and retries after provider trouble once it recovers.
 *
 * @since 0.1.0
 * @category agent
 */
export const runAgent = (model: MxModel, maxSteps = 60): AgentReport => {
  const actions: Array<{ status: ConnectionStatus.NullableReportedStatus; action: NextAction.NextAction }> = []
  for (let steps = 0; steps < maxSteps; steps++) {
    const observation = model.observe()
    if (NextAction.decide(observation)._tag === "KeepPolling") {
      model.tick()
      continue
    }
    const action = NextAction.decide(observation)
    actions.push({ status: observation.connection_status, action })
    switch (action._tag) {
      case "KeepPolling":
        model.tick()
        break
      case "AnswerChallenges":
        if (model.listChallenges() > 0) model.resume(true)
        break
      case "PullData":
        return { outcome: "Connected", steps, actions }
      case "UpdateCredentials":
        model.listMemberCredentials()
        model.updateCredentials(true)
        break
      case "StartNewAggregation":
        model.aggregate()
        break
      case "ActAtInstitution":
        model.bank.institution = "ok"
        model.aggregate()
        break
      case "RetryLater":
        model.tick()
        model.bank.institution = "ok"
        model.aggregate()
        break
      case "CompleteOAuth":
        return { outcome: "AwaitingOAuth", steps, actions }
      case "StopAggregating":
        return { outcome: "Stopped", steps, actions }
      case "NotAggregatable":
        return { outcome: "NotAggregatable", steps, actions }
    }
  }
  return { outcome: "StepLimit", steps: maxSteps, actions }
}
