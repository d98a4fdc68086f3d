/**
 * `mx-aggregation challenges list|answer`: the MFA challenges members are waiting on, and the end
 * user's answers handed to the worker (which validates them, resumes the member at MX and wakes the
 * waiting run). Answers are secrets: they are never printed.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Member } from "@mx-aggregation/domain"
import { Effect, Option, Schema } from "effect"
import { maxPageSize, PendingChallengeView } from "../ControlApi.js"
import * as ControlClient from "./ControlClient.js"
import { guid, member } from "./MembersCommand.js"
import * as Output from "./Output.js"
import * as Secrets from "./Secrets.js"

const describeChallenge = (challenge: Member.Challenge): string => {
  const options = [...challenge.options, ...challenge.image_options].map((o) =>
    o.label === null || o.label === o.value ? o.value : `${o.value} (${o.label})`
  )
  return [
    `  ${challenge.guid}`,
    // A challenge MX sent without a type (or with one the domain does not know) is answered as free text.
    challenge.type ?? "(no type)",
    Output.cell(challenge.label),
    options.length === 0 ? "" : `options: ${options.join(", ")}`
  ].filter((part) => part.length > 0).join("  ")
}

/**
 * Pending challenges, one block per member.
 *
 * @since 0.1.0
 * @category formatting
 */
export const challengesText = (pending: ReadonlyArray<PendingChallengeView>): string =>
  pending.length === 0 ? "No member is waiting for MFA answers." : [
    ...pending.flatMap((p) => [
      `${p.memberGuid}  run ${p.runId}  since ${p.createdAt}  expires ${Output.cell(p.expiresAt)}`,
      ...p.challenges.map(describeChallenge)
    ]),
    "",
    "Answer with: mx-aggregation challenges answer <member> (prompts for each answer; --stdin reads JSON)"
  ].join("\n")

/**
 * `challenges list [--member <member>]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const list = Command.make(
  "list",
  {
    ...ControlClient.connection,
    member: Options.text("member").pipe(
      Options.mapEffect(guid(Member.MemberGuid, "a member guid", "--member")),
      Options.withDescription("Only this member's challenges"),
      Options.optional
    )
  },
  (options) =>
    ControlClient.withClient(options, (client) =>
      Effect.gen(function*() {
        const pending: ReadonlyArray<PendingChallengeView> = Option.isSome(options.member)
          ? [yield* client.members.challenges({ path: { memberGuid: options.member.value } })]
          : yield* ControlClient.allPages((cursor) =>
            client.members.pendingChallenges({ urlParams: { cursor, limit: maxPageSize } }).pipe(
              Effect.map((page) => ({ items: page.challenges, next: page.next }))
            )
          )
        yield* Output.print(options, Schema.Array(PendingChallengeView), pending, challengesText)
      }))
).pipe(Command.withDescription("List the MFA challenges members are waiting on"))

/**
 * `--stdin`: the answers as `{"answers": [{"guid", "value"}, …]}` on standard input (for option
 * challenges, the option's value or guid).
 *
 * @since 0.1.0
 * @category options
 */
export const stdin = Secrets.stdinOption("answers")

const Answered = Schema.Struct({
  memberGuid: Schema.String,
  resumed: Schema.Boolean,
  answers: Schema.Number
})

/**
 * `challenges answer <member> [--stdin]`: at a terminal, prompts for the answer to each challenge the
 * member is waiting on (read from the worker first); with `--stdin`, reads them as JSON.
 *
 * @since 0.1.0
 * @category commands
 */
export const answer = Command.make(
  "answer",
  { ...ControlClient.connection, member, stdin },
  (options) =>
    ControlClient.withClient(options, (client) =>
      Effect.gen(function*() {
        const answers = yield* Secrets.read({
          stdin: options.stdin,
          key: "answers",
          prompt: client.members.challenges({ path: { memberGuid: options.member } }).pipe(
            Effect.mapError(ControlClient.toCliError(options.url)),
            Effect.flatMap((pending) => Secrets.promptAnswers(pending.challenges))
          )
        })
        const result = yield* client.members.answer({ path: { memberGuid: options.member }, payload: { answers } })
        yield* Output.print(
          options,
          Answered,
          { memberGuid: options.member, resumed: result.resumed, answers: answers.length },
          (a) => `Sent ${a.answers} answer(s) for ${a.memberGuid}: MX resumes the aggregation.`
        )
      }))
).pipe(
  Command.withDescription(
    "Answer a member's MFA challenges: prompted for at a terminal (nothing echoed), or JSON on standard input with --stdin; never printed"
  )
)

/**
 * `challenges`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("challenges").pipe(
  Command.withDescription("MFA challenges: list, answer"),
  Command.withSubcommands([list, answer])
)
