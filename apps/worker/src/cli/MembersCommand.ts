/**
 * `mx-aggregation members list|show`: the worker's tracked members, their status and next action,
 * and one member's recent runs, read through the control API.
 *
 * @since 0.1.0
 */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import { ConnectionStatus, Member } from "@mx-aggregation/domain"
import { Effect, Either, Option, Schema } from "effect"
import { maxPageSize, MemberDetail, MemberView } from "../ControlApi.js"
import * as ControlClient from "./ControlClient.js"
import * as Output from "./Output.js"

/**
 * The table of members.
 *
 * @since 0.1.0
 * @category formatting
 */
export const membersTable = (members: ReadonlyArray<MemberView>): string =>
  members.length === 0 ? "No tracked members." : Output.table(
    ["MEMBER", "USER", "INSTITUTION", "STATUS", "CLASS", "NEXT ACTION", "NEEDS USER", "LAST SUCCESS", "NEXT DUE"],
    members.map((m) => [
      m.memberGuid,
      m.userGuid,
      Output.cell(m.institutionCode),
      Output.cell(m.connectionStatus) + (m.isBeingAggregated ? " (aggregating)" : ""),
      Output.cell(m.statusClass),
      Output.cell(m.nextAction),
      Output.cell(m.needsUser),
      Output.cell(m.successfullyAggregatedAt),
      Output.cell(m.nextDueAt)
    ])
  )

/**
 * One member with its runs.
 *
 * @since 0.1.0
 * @category formatting
 */
export const memberDetail = ({ member: m, runs }: MemberDetail): string =>
  [
    Output.fields([
      ["Member", m.memberGuid],
      ["User", m.userGuid],
      ["Institution", Output.cell(m.institutionCode)],
      ["Tracked", m.tracked ? "yes" : "no"],
      ["Connection status", Output.cell(m.connectionStatus)],
      ["Status class", Output.cell(m.statusClass)],
      ["Being aggregated", m.isBeingAggregated ? "yes" : "no"],
      ["Next action", Output.cell(m.nextAction)],
      ["User action", Output.cell(m.userAction)],
      ["Needs the user", Output.cell(m.needsUser)],
      ["Active run", Output.cell(m.activeRunId)],
      ["Last success", Output.cell(m.successfullyAggregatedAt)],
      ["Observed", Output.cell(m.observedAt)],
      ["Next due", Output.cell(m.nextDueAt)]
    ]),
    "",
    runs.length === 0 ? "No runs." : Output.table(
      ["RUN", "REASON", "STARTED", "ENDED", "OUTCOME", "FAILURE", "MX CALLS", "ROWS SKIPPED"],
      runs.map((r) => [
        r.runId,
        r.reason,
        r.startedAt,
        Output.cell(r.endedAt),
        Output.cell(r.outcome),
        Output.cell(r.failureReason),
        String(r.mxCalls),
        String(r.rowsSkipped)
      ])
    )
  ].join("\n")

/**
 * Checks a guid argument with its domain Schema, with a message naming the argument.
 *
 * @since 0.1.0
 * @category parsing
 */
export const guidArg = <A>(schema: Schema.Schema<A, string>, what: string, label: string) => (raw: string) =>
  Either.match(Schema.decodeEither(schema)(raw), {
    onLeft: () => Effect.fail(HelpDoc.p(`${label}: expected ${what} (no spaces), got "${raw}"`)),
    onRight: Effect.succeed
  })

/**
 * Checks a guid option with its domain Schema, with a message naming the option.
 *
 * @since 0.1.0
 * @category parsing
 */
export const guid = <A>(schema: Schema.Schema<A, string>, what: string, label: string) => (raw: string) =>
  Effect.mapError(guidArg(schema, what, label)(raw), ValidationError.invalidValue)

/**
 * `--status-class`: one of the domain's status classes.
 *
 * @since 0.1.0
 * @category options
 */
export const statusClass = Options.choice("status-class", ConnectionStatus.StatusClass.literals).pipe(
  Options.withDescription("Only members of this status class"),
  Options.optional
)

/**
 * `--user`: only this user's members.
 *
 * @since 0.1.0
 * @category options
 */
export const user = Options.text("user").pipe(
  Options.mapEffect(guid(Member.UserGuid, "a user guid", "--user")),
  Options.withDescription("Only this user's members (a user guid)"),
  Options.optional
)

/**
 * The `<member>` argument: a member guid.
 *
 * @since 0.1.0
 * @category arguments
 */
export const member = Args.text({ name: "member" }).pipe(
  Args.mapEffect(guidArg(Member.MemberGuid, "a member guid", "<member>")),
  Args.withDescription("A member guid (MBR-…)")
)

/**
 * `members list`.
 *
 * @since 0.1.0
 * @category commands
 */
export const list = Command.make(
  "list",
  { ...ControlClient.connection, statusClass, user },
  (options) =>
    ControlClient.withClient(options, (client) =>
      ControlClient.allPages((cursor) =>
        client.members.list({
          urlParams: {
            statusClass: Option.getOrUndefined(options.statusClass),
            userGuid: Option.getOrUndefined(options.user),
            cursor: cursor === undefined ? undefined : Member.MemberGuid.make(cursor),
            limit: maxPageSize
          }
        }).pipe(Effect.map((page) => ({ items: page.members, next: page.next })))
      ).pipe(Effect.flatMap((members) => Output.print(options, Schema.Array(MemberView), members, membersTable))))
).pipe(Command.withDescription("List the tracked members, with their status and next action"))

/**
 * `members show <member>`.
 *
 * @since 0.1.0
 * @category commands
 */
export const show = Command.make(
  "show",
  { ...ControlClient.connection, member },
  (options) =>
    ControlClient.withClient(options, (client) =>
      client.members.get({ path: { memberGuid: options.member } }).pipe(
        Effect.flatMap((detail) => Output.print(options, MemberDetail, detail, memberDetail))
      ))
).pipe(Command.withDescription("Show one member, its next action and its recent runs"))

/**
 * `members track <user> <member> [--institution <code>]`: starts tracking a member the worker did
 * not discover (the scheduler then keeps it fresh).
 *
 * @since 0.1.0
 * @category commands
 */
export const track = Command.make(
  "track",
  {
    ...ControlClient.connection,
    user: Args.text({ name: "user" }).pipe(
      Args.mapEffect(guidArg(Member.UserGuid, "a user guid", "<user>")),
      Args.withDescription("The member's user guid (USR-…)")
    ),
    member,
    institution: Options.text("institution").pipe(
      Options.mapEffect(guid(Member.InstitutionCode, "an institution code", "--institution")),
      Options.withDescription("The member's institution code"),
      Options.optional
    )
  },
  (options) =>
    ControlClient.withClient(options, (client) =>
      client.members.track({
        payload: {
          userGuid: options.user,
          memberGuid: options.member,
          ...Option.match(options.institution, {
            onNone: () => ({}),
            onSome: (institutionCode) => ({ institutionCode })
          })
        }
      }).pipe(Effect.flatMap((view) => Output.print(options, MemberView, view, (m) => membersTable([m])))))
).pipe(Command.withDescription("Track a member (the worker then keeps it fresh)"))

/**
 * `members untrack <member>`: stops tracking a member (its history stays).
 *
 * @since 0.1.0
 * @category commands
 */
export const untrack = Command.make(
  "untrack",
  { ...ControlClient.connection, member },
  (options) =>
    ControlClient.withClient(
      options,
      (client) =>
        client.members.untrack({ path: { memberGuid: options.member }, urlParams: {} }).pipe(
          Effect.flatMap((result) =>
            Output.print(
              options,
              Schema.Struct({ untracked: Schema.Boolean }),
              { untracked: "untracked" in result && result.untracked },
              (r) => r.untracked ? `${options.member} is no longer tracked.` : `${options.member} was not tracked.`
            )
          )
        )
    )
).pipe(Command.withDescription("Stop tracking a member"))

/**
 * `members`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("members").pipe(
  Command.withDescription("Tracked members: list, show, track, untrack"),
  Command.withSubcommands([list, show, track, untrack])
)
