/**
 * `mx-aggregation present <user>`: tells the worker that the end user is present (MX's guide: a new
 * session in the partner's app). The worker aggregates that user's members that need it, with the
 * user present, so that MFA can be answered at once.
 *
 * @since 0.1.0
 */
import { Args, Command } from "@effect/cli"
import { Member } from "@mx-aggregation/domain"
import { Effect, Schema } from "effect"
import { Triggered } from "../ControlApi.js"
import { triggeredTable } from "./AggregateCommand.js"
import * as ControlClient from "./ControlClient.js"
import { guidArg } from "./MembersCommand.js"
import * as Output from "./Output.js"

/**
 * The `<user>` argument: a user guid.
 *
 * @since 0.1.0
 * @category arguments
 */
export const user = Args.text({ name: "user" }).pipe(
  Args.mapEffect(guidArg(Member.UserGuid, "a user guid", "<user>")),
  Args.withDescription("A user guid (USR-…)")
)

/**
 * `present <user>`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "present",
  { ...ControlClient.connection, user },
  (options) =>
    ControlClient.withClient(options, (client) =>
      client.members.userPresent({ path: { userGuid: options.user } }).pipe(
        Effect.flatMap((triggered) => Output.print(options, Schema.Array(Triggered), triggered, triggeredTable))
      ))
).pipe(Command.withDescription("The user is present: aggregate their members that need it"))
