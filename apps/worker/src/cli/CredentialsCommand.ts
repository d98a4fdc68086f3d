/**
 * `mx-aggregation credentials update <member> [--stdin]`: new credentials for a member (after DENIED,
 * or when the user changed their password at the bank). The worker follows MX's rules: it reads the
 * member's own credential list first, refuses duplicates of another member, updates the member in
 * place (never delete and recreate) and does not aggregate again when MX already started an
 * aggregation. The values are secrets: prompted for (nothing echoed) or read as JSON from standard
 * input, never taken as arguments, never printed.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { CredentialUpdate, Member } from "@mx-aggregation/domain"
import { Effect, Option, Schema } from "effect"
import { CredentialsUpdated } from "../ControlApi.js"
import * as ControlClient from "./ControlClient.js"
import { member } from "./MembersCommand.js"
import * as Output from "./Output.js"
import * as Secrets from "./Secrets.js"

/**
 * `--stdin`: the credentials as `{"credentials": [{"guid", "value"}, …]}` on standard input (the guids
 * of the member's own credential list, `credentials list`).
 *
 * @since 0.1.0
 * @category options
 */
export const stdin = Secrets.stdinOption("credentials")

/**
 * `--purpose`: why the credentials change (identify/verify make MX skip its automatic aggregation).
 *
 * @since 0.1.0
 * @category options
 */
export const purpose = Options.choice("purpose", CredentialUpdate.Purpose.literals).pipe(
  Options.withDescription("aggregation (default), identify or verify"),
  Options.optional
)

/**
 * `--aggregate-later`: update without aggregating now.
 *
 * @since 0.1.0
 * @category options
 */
export const aggregateLater = Options.boolean("aggregate-later").pipe(
  Options.withDescription("Update the credentials without aggregating now (skip_aggregation)")
)

/**
 * What the update did, for people.
 *
 * @since 0.1.0
 * @category formatting
 */
export const updatedText = (memberGuid: string) => (updated: CredentialsUpdated): string =>
  [
    `Credentials of ${memberGuid} updated.`,
    updated.skipAggregation
      ? "No aggregation now (skip_aggregation)."
      : updated.mxStartsAggregation
      ? "MX aggregates the member now."
      : "The worker aggregates the member now.",
    ...(updated.runId === null ? [] : [`Run: ${updated.runId}`])
  ].join(" ")

/**
 * `credentials update <member> [--stdin] [--purpose p] [--aggregate-later]`: at a terminal, prompts
 * for each of the member's credential fields (read from the worker first); with `--stdin`, reads them
 * as JSON.
 *
 * @since 0.1.0
 * @category commands
 */
export const update = Command.make(
  "update",
  { ...ControlClient.connection, member, stdin, purpose, aggregateLater },
  (options) =>
    ControlClient.withClient(options, (client) =>
      Effect.gen(function*() {
        const credentials = yield* Secrets.read({
          stdin: options.stdin,
          key: "credentials",
          prompt: client.members.credentialFields({ path: { memberGuid: options.member } }).pipe(
            Effect.mapError(ControlClient.toCliError(options.url)),
            Effect.flatMap(Secrets.promptCredentials)
          )
        })
        const updated = yield* client.members.updateCredentials({
          path: { memberGuid: options.member },
          payload: {
            credentials,
            ...Option.match(options.purpose, { onNone: () => ({}), onSome: (purpose) => ({ purpose }) }),
            ...(options.aggregateLater ? { aggregateLater: true } : {})
          }
        })
        yield* Output.print(options, CredentialsUpdated, updated, updatedText(options.member))
      }))
).pipe(
  Command.withDescription(
    "Give a member new credentials: prompted for at a terminal (nothing echoed), or JSON on standard input with --stdin; never printed"
  )
)

/**
 * A member's credential fields, for people.
 *
 * @since 0.1.0
 * @category formatting
 */
export const fieldsTable = (fields: ReadonlyArray<Member.Credential>): string =>
  fields.length === 0 ? "The member has no credential fields." : Output.table(
    ["GUID", "FIELD", "TYPE", "LABEL"],
    [...fields]
      .sort((a, b) => (a.display_order ?? 0) - (b.display_order ?? 0))
      .map((f) => [f.guid, Output.cell(f.field_name), Output.cell(f.field_type ?? f.type), Output.cell(f.label)])
  )

/**
 * `credentials list <member>`: the member's own credential fields at MX (their guids are what
 * `update` takes).
 *
 * @since 0.1.0
 * @category commands
 */
export const list = Command.make(
  "list",
  { ...ControlClient.connection, member },
  (options) =>
    ControlClient.withClient(
      options,
      (client) =>
        client.members.credentialFields({ path: { memberGuid: options.member } }).pipe(
          Effect.flatMap((fields) => Output.print(options, Schema.Array(Member.Credential), fields, fieldsTable))
        )
    )
).pipe(Command.withDescription("List a member's credential fields (the guids update takes)"))

/**
 * `credentials`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("credentials").pipe(
  Command.withDescription("Member credentials: list the fields, update"),
  Command.withSubcommands([list, update])
)
