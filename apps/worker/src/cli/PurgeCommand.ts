/**
 * `mx-aggregation purge <member> [--yes]`: erases everything the worker stores about a member (its
 * accounts, transactions, pending challenges, runs and their observations, partner events and the
 * tracked row), for data-retention requests, through `DELETE /members/:member?purge=true`. Nothing is
 * asked of MX or changed there. On a terminal it asks the user to type the member guid first; elsewhere
 * (a script, a pipe) it needs `--yes`.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Terminal } from "@effect/platform"
import { Effect } from "effect"
import { Purged } from "../ControlApi.js"
import { CliError } from "./CliError.js"
import * as ControlClient from "./ControlClient.js"
import { member } from "./MembersCommand.js"
import * as Output from "./Output.js"

/**
 * What was removed, one line per table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const purgedText = (memberGuid: string) => (purged: Purged): string =>
  [
    `Erased everything stored for ${memberGuid} (nothing was changed at MX):`,
    Output.table(["TABLE", "ROWS"], Object.entries(purged.removed).map(([table, rows]) => [table, String(rows)]))
  ].join("\n")

/**
 * `--yes`: do not ask for confirmation.
 *
 * @since 0.1.0
 * @category options
 */
export const yes = Options.boolean("yes").pipe(
  Options.withAlias("y"),
  Options.withDescription("Do not ask for confirmation (required when not on a terminal)")
)

/**
 * Asks the user, on a terminal, to type the member guid; fails with `Cancelled` on any other answer,
 * and with `Usage` when there is no terminal to ask on.
 *
 * @since 0.1.0
 * @category confirmation
 */
export const confirm = (memberGuid: string) =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.Terminal
    if (!(yield* terminal.isTTY)) {
      return yield* new CliError({
        reason: "Usage",
        message: `purge: not on a terminal, so nothing can be confirmed: pass --yes to erase ${memberGuid}`
      })
    }
    yield* terminal.display(
      `This erases everything the worker stores about ${memberGuid}; it cannot be undone.\n` +
        `Type the member guid to confirm: `
    ).pipe(Effect.orElse(() => Effect.void))
    const answer = yield* terminal.readLine.pipe(Effect.orElseSucceed(() => ""))
    if (answer.trim() !== memberGuid) {
      return yield* new CliError({
        reason: "NotConfirmed",
        message: `purge: not confirmed; ${memberGuid} is untouched`
      })
    }
  })

/**
 * `purge <member> [--yes]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "purge",
  { ...ControlClient.connection, member, yes },
  (options) =>
    ControlClient.withClient(options, (client) =>
      Effect.gen(function*() {
        // Asked once the connection options are known to be complete, never for nothing.
        if (!options.yes) yield* confirm(options.member)
        const result = yield* client.members.untrack({
          path: { memberGuid: options.member },
          urlParams: { purge: "true" }
        })
        if (!(result instanceof Purged)) {
          return yield* new CliError({ reason: "BadResponse", message: "The worker did not purge the member" })
        }
        yield* Output.print(options, Purged, result, purgedText(options.member))
      }))
).pipe(
  Command.withDescription(
    "Erase everything the worker stores about a member (data retention); nothing is changed at MX"
  )
)
