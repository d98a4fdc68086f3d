/**
 * `mx-aggregation credentials update <member> --credential <guid>=<value> …`: new credentials for a
 * member (after DENIED, or when the user changed their password at the bank). The worker follows MX's
 * rules: it reads the member's own credential list first, refuses duplicates of another member,
 * updates the member in place (never delete and recreate) and does not aggregate again when MX
 * already started an aggregation. The values are secrets: they are never printed.
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
 * `--credential <credential guid>=<value>`, repeated: one per credential of the member.
 *
 * @since 0.1.0
 * @category options
 */
export const credentials = Secrets.pairs(
  "credential",
  "A credential: <credential guid>=<value> (the guids of the member's own credential list); repeat for each"
)

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
 * `credentials update <member> --credential <guid>=<value> … [--purpose p] [--aggregate-later]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const update = Command.make(
  "update",
  { ...ControlClient.connection, member, credentials, purpose, aggregateLater },
  (options) =>
    ControlClient.withClient(options, (client) =>
      client.members.updateCredentials({
        path: { memberGuid: options.member },
        payload: {
          credentials: [options.credentials[0]!, ...options.credentials.slice(1)],
          ...Option.match(options.purpose, { onNone: () => ({}), onSome: (purpose) => ({ purpose }) }),
          ...(options.aggregateLater ? { aggregateLater: true } : {})
        }
      }).pipe(
        Effect.flatMap((updated) => Output.print(options, CredentialsUpdated, updated, updatedText(options.member)))
      ))
).pipe(Command.withDescription("Give a member new credentials (the values are never printed)"))

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
