/**
 * `mx-aggregation aggregate <member>` / `aggregate --user <user>`: asks the worker to aggregate one
 * member, or all of a user's tracked members, now. The worker starts a run unless one is active (one
 * run per member), so asking twice is harmless.
 *
 * @since 0.1.0
 */
import { Args, Command } from "@effect/cli"
import { Effect, Option, Schema } from "effect"
import { Triggered } from "../ControlApi.js"
import { CliError } from "./CliError.js"
import * as ControlClient from "./ControlClient.js"
import { member, user } from "./MembersCommand.js"
import * as Output from "./Output.js"

/**
 * What a trigger did, one line per member.
 *
 * @since 0.1.0
 * @category formatting
 */
export const triggeredTable = (triggered: ReadonlyArray<Triggered>): string =>
  triggered.length === 0 ? "No tracked member to aggregate." : Output.table(
    ["MEMBER", "RUN", "STARTED"],
    triggered.map((t) => [t.memberGuid, Output.cell(t.runId), t.started ? "started" : "already running"])
  )

/**
 * `aggregate [<member>] [--user <user>]`: exactly one of the two.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "aggregate",
  { ...ControlClient.connection, user, member: Args.optional(member) },
  (options) =>
    Option.isSome(options.member) === Option.isSome(options.user)
      ? new CliError({
        reason: "Usage",
        message: "aggregate: give either a member guid or --user <user guid>, not both"
      })
      : ControlClient.withClient(options, (client) =>
        Effect.gen(function*() {
          const triggered = Option.isSome(options.member)
            ? [yield* client.members.aggregate({ path: { memberGuid: options.member.value } })]
            : yield* client.members.aggregateUser({ path: { userGuid: Option.getOrThrow(options.user) } })
          yield* Output.print(options, Schema.Array(Triggered), triggered, triggeredTable)
        }))
).pipe(Command.withDescription("Aggregate a member now, or all of a user's members (--user)"))
