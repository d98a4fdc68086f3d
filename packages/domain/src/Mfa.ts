/**
 * Multi-factor authentication: validating the end user's answers against MX's challenges before
 * resuming, refusing to resume a member that is not CHALLENGED, and following one aggregation through
 * several MFA rounds (CHALLENGED -> RESUMED -> CHALLENGED -> … -> an end state).
 *
 * @since 0.1.0
 */
import { Effect, Redacted, Schema } from "effect"
import * as ConnectionStatus from "./ConnectionStatus.js"
import { type Challenge, CredentialGuid, type CredentialValue } from "./Member.js"
import { isSettled } from "./NextAction.js"

/**
 * Why one answer (or a missing one) was refused. Values are never included: only guids and reasons.
 *
 * @since 0.1.0
 * @category errors
 */
export class AnswerProblem extends Schema.Class<AnswerProblem>("AnswerProblem")({
  challengeGuid: CredentialGuid,
  reason: Schema.Literal("Unanswered", "UnknownChallenge", "DuplicateAnswer", "Empty", "NotAnOption")
}) {}

/**
 * The answers do not fit the challenges; `problems` lists every one found.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidMfaAnswers extends Schema.TaggedError<InvalidMfaAnswers>()("InvalidMfaAnswers", {
  problems: Schema.NonEmptyArray(AnswerProblem)
}) {
  override get message(): string {
    return `Invalid MFA answers: ${this.problems.map((p) => `${p.challengeGuid} ${p.reason}`).join(", ")}`
  }
}

/**
 * A resume with no answers at all (and no challenges to answer): MX's resume needs at least one
 * answer, so an empty one is refused rather than sent. (With challenges and no answers, each challenge
 * is reported `Unanswered` by `InvalidMfaAnswers`.)
 *
 * @since 0.1.0
 * @category errors
 */
export class EmptyResume extends Schema.TaggedError<EmptyResume>()("EmptyResume", {}) {
  override get message(): string {
    return "Cannot resume without answers: there are no challenges to answer"
  }
}

/**
 * MX resumes only a CHALLENGED member (405 otherwise); asking to resume any other is refused here.
 *
 * @since 0.1.0
 * @category errors
 */
export class MemberNotChallenged extends Schema.TaggedError<MemberNotChallenged>()("MemberNotChallenged", {
  status: ConnectionStatus.NullableReportedStatus
}) {
  override get message(): string {
    return `Cannot resume: the member is ${this.status ?? "null"}, not CHALLENGED`
  }
}

const optionAnswers = (challenge: Challenge): ReadonlySet<string> | undefined => {
  switch (challenge.type) {
    case "OPTIONS":
      return new Set(challenge.options.flatMap((o) => o.guid ? [o.value, o.guid] : [o.value]))
    case "IMAGE_OPTIONS":
      return new Set(challenge.image_options.flatMap((o) => o.guid ? [o.value, o.guid] : [o.value]))
    default:
      return undefined
  }
}

/**
 * Checks answers against the challenges they answer: every challenge answered exactly once, no answer
 * to an unknown challenge, option answers among the offered options (by value or option guid), and
 * free-text answers (TEXT, TOKEN, IMAGE_DATA, a missing or unknown type, …) not blank. An empty resume
 * (no challenges, no answers) is refused (`EmptyResume`). Succeeds with the answers in challenge
 * order, ready for the resume call.
 *
 * @since 0.1.0
 * @category rules
 */
export const validateAnswers = (
  challenges: ReadonlyArray<Challenge>,
  answers: ReadonlyArray<CredentialValue>
): Effect.Effect<ReadonlyArray<CredentialValue>, InvalidMfaAnswers | EmptyResume> =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<CredentialValue>, InvalidMfaAnswers | EmptyResume> => {
    if (challenges.length === 0 && answers.length === 0) return Effect.fail(new EmptyResume())
    const problems: Array<AnswerProblem> = []
    const byGuid = new Map<string, CredentialValue>()
    const known = new Set(challenges.map((c) => c.guid as string))
    for (const answer of answers) {
      if (!known.has(answer.guid)) {
        problems.push(new AnswerProblem({ challengeGuid: answer.guid, reason: "UnknownChallenge" }))
      } else if (byGuid.has(answer.guid)) {
        problems.push(new AnswerProblem({ challengeGuid: answer.guid, reason: "DuplicateAnswer" }))
      } else {
        byGuid.set(answer.guid, answer)
      }
    }
    const ordered: Array<CredentialValue> = []
    for (const challenge of challenges) {
      const answer = byGuid.get(challenge.guid)
      if (answer === undefined) {
        problems.push(new AnswerProblem({ challengeGuid: challenge.guid, reason: "Unanswered" }))
        continue
      }
      const value = Redacted.value(answer.value)
      const options = optionAnswers(challenge)
      if (value.trim().length === 0) {
        problems.push(new AnswerProblem({ challengeGuid: challenge.guid, reason: "Empty" }))
      } else if (options !== undefined && !options.has(value)) {
        problems.push(new AnswerProblem({ challengeGuid: challenge.guid, reason: "NotAnOption" }))
      } else {
        ordered.push(answer)
      }
    }
    return problems.length > 0
      ? Effect.fail(new InvalidMfaAnswers({ problems: problems as [AnswerProblem, ...Array<AnswerProblem>] }))
      : Effect.succeed(ordered)
  })

/**
 * Succeeds only when the member is CHALLENGED: the one status from which MX resumes.
 *
 * @since 0.1.0
 * @category rules
 */
export const ensureChallenged = (
  status: ConnectionStatus.NullableReportedStatus
): Effect.Effect<void, MemberNotChallenged> =>
  status === "CHALLENGED" ? Effect.void : Effect.fail(new MemberNotChallenged({ status }))

/**
 * Everything needed before a resume call: the member is CHALLENGED and the answers fit its
 * challenges. Succeeds with the answers to send.
 *
 * @since 0.1.0
 * @category rules
 */
export const prepareResume = (
  status: ConnectionStatus.NullableReportedStatus,
  challenges: ReadonlyArray<Challenge>,
  answers: ReadonlyArray<CredentialValue>
): Effect.Effect<ReadonlyArray<CredentialValue>, MemberNotChallenged | InvalidMfaAnswers | EmptyResume> =>
  Effect.zipRight(ensureChallenged(status), validateAnswers(challenges, answers))

/**
 * One aggregation followed through its statuses. An aggregation may be CHALLENGED several times;
 * resuming continues it (RESUMED) and never starts a new one. It ends at the first settled status
 * (`NextAction.isSettled`) other than CHALLENGED.
 *
 * @since 0.1.0
 * @category models
 */
export interface AggregationCycle {
  readonly rounds: number
  readonly awaitingAnswers: boolean
  readonly ended: ConnectionStatus.NullableReportedStatus | undefined
  readonly statuses: ReadonlyArray<ConnectionStatus.NullableReportedStatus>
}

/**
 * A cycle that has seen nothing yet.
 *
 * @since 0.1.0
 * @category models
 */
export const initialCycle: AggregationCycle = { rounds: 0, awaitingAnswers: false, ended: undefined, statuses: [] }

/**
 * Folds one observed status into the cycle. A CHALLENGED after a non-challenged status opens a new MFA
 * round of the same aggregation; a settled non-challenged status ends it. Statuses after the end are
 * ignored: only a new aggregate call (a new cycle) continues.
 *
 * @since 0.1.0
 * @category rules
 */
export const observe = (
  cycle: AggregationCycle,
  status: ConnectionStatus.NullableReportedStatus,
  isBeingAggregated: boolean | null
): AggregationCycle => {
  if (cycle.ended !== undefined) return cycle
  const statuses = [...cycle.statuses, status]
  if (status === "CHALLENGED") {
    return {
      rounds: cycle.awaitingAnswers ? cycle.rounds : cycle.rounds + 1,
      awaitingAnswers: true,
      ended: undefined,
      statuses
    }
  }
  const done = isSettled({ connection_status: status, is_being_aggregated: isBeingAggregated })
  return { rounds: cycle.rounds, awaitingAnswers: false, ended: done ? status : undefined, statuses }
}
