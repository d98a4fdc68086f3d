/**
 * A member's `connection_status`: the 22 statuses MX reports, with their integer ids, and their
 * classification into the status classes that drive every other rule.
 *
 * @since 0.1.0
 */
import { Option, ParseResult, Schema } from "effect"

/**
 * Every status MX reports, in id order: the index of a name is its MX id (CREATED 0 … PENDING 21).
 * Source: MX's Connect widget `ConnectionStatusMap` and the order of the v20250224 enum.
 *
 * @since 0.1.0
 * @category constants
 */
export const names = [
  "CREATED",
  "PREVENTED",
  "DENIED",
  "CHALLENGED",
  "REJECTED",
  "LOCKED",
  "CONNECTED",
  "IMPEDED",
  "RECONNECTED",
  "DEGRADED",
  "DISCONNECTED",
  "DISCONTINUED",
  "CLOSED",
  "DELAYED",
  "FAILED",
  "UPDATED",
  "DISABLED",
  "IMPORTED",
  "RESUMED",
  "EXPIRED",
  "IMPAIRED",
  "PENDING"
] as const

/**
 * A connection status name, as MX sends it in `connection_status`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConnectionStatus = Schema.Literal(...names).annotations({
  identifier: "ConnectionStatus",
  description: "An MX member connection_status name"
})

/**
 * @since 0.1.0
 * @category models
 */
export type ConnectionStatus = typeof ConnectionStatus.Type

/**
 * The status of a member, or `null` for a member that does not aggregate (a manual member, or one
 * without credentials). MX also sends `null` transiently while an aggregation starts.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NullableConnectionStatus = Schema.NullOr(ConnectionStatus)

/**
 * @since 0.1.0
 * @category models
 */
export type NullableConnectionStatus = ConnectionStatus | null

const known: ReadonlySet<string> = new Set(names)

/**
 * Whether a reported status is one of the 22 known names. Narrows a `ReportedStatus` to the known
 * literals (then switch on it exhaustively) or to `UnknownStatus`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKnown = (status: ReportedStatus): status is ConnectionStatus => known.has(status)

/**
 * A `connection_status` MX sent that is not one of the 22 known names (MX's OpenAPI spec types the
 * field as any string, so a new status may appear without notice). The raw text is kept as it came,
 * branded so that it never mixes with the known literals.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownStatus = Schema.String.pipe(
  Schema.filter((s) => !known.has(s), { message: (issue) => `${String(issue.actual)} is a known status` }),
  Schema.brand("UnknownConnectionStatus"),
  Schema.annotations({ identifier: "UnknownStatus", description: "A connection_status MX sent that is not known" })
)

/**
 * @since 0.1.0
 * @category models
 */
export type UnknownStatus = typeof UnknownStatus.Type

/**
 * What MX may send in `connection_status`: a known status (precisely typed) or an unknown one kept with
 * its raw text. Decoding never fails on a string; a known name always decodes to its literal.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReportedStatus = Schema.Union(ConnectionStatus, UnknownStatus).annotations({
  identifier: "ReportedStatus",
  description: "An MX connection_status: a known name, or an unknown one kept as sent"
})

/**
 * @since 0.1.0
 * @category models
 */
export type ReportedStatus = ConnectionStatus | UnknownStatus

/**
 * A reported status, or `null` (a member that does not aggregate). This is what `Member` and
 * `MemberStatus` decode `connection_status` into.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NullableReportedStatus = Schema.NullOr(ReportedStatus)

/**
 * @since 0.1.0
 * @category models
 */
export type NullableReportedStatus = ReportedStatus | null

/**
 * An MX `connection_status_id`: an integer from 0 to 21.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConnectionStatusId = Schema.Int.pipe(
  Schema.between(0, names.length - 1),
  Schema.annotations({ identifier: "ConnectionStatusId", description: "An MX connection_status_id (0-21)" })
)

/**
 * The MX id of a status.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toId = (status: ConnectionStatus): number => names.indexOf(status)

/**
 * The status with an MX id, if there is one.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromId = (id: number): Option.Option<ConnectionStatus> =>
  Number.isInteger(id) && id >= 0 && id < names.length ? Option.some(names[id]!) : Option.none()

const unknownIdPrefix = "id:"

/**
 * Decodes an MX `connection_status_id` (as in webhooks) into a reported status, and encodes back.
 * A known id decodes to its precise name; an id this code does not know (MX adds statuses over time)
 * decodes to the `UnknownStatus` `"id:<id>"` instead of failing, and encodes back to the same id. A
 * value that is not a non-negative integer is not an id and fails with a ParseError naming it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConnectionStatusFromId: Schema.Schema<ReportedStatus, number> = Schema.transformOrFail(
  Schema.NonNegativeInt.pipe(Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER)),
  ReportedStatus,
  {
    strict: true,
    decode: (id) => ParseResult.succeed(Option.getOrElse(fromId(id), (): string => `${unknownIdPrefix}${id}`)),
    encode: (status, _, ast) => {
      if (known.has(status)) return ParseResult.succeed(names.indexOf(status as ConnectionStatus))
      const digits = status.startsWith(unknownIdPrefix) ? status.slice(unknownIdPrefix.length) : ""
      return /^(0|[1-9][0-9]*)$/.test(digits) && Number.isSafeInteger(Number(digits))
        ? ParseResult.succeed(Number(digits))
        : ParseResult.fail(
          new ParseResult.Type(ast, status, `${status} is not a status with an MX connection_status_id`)
        )
    }
  }
).annotations({ identifier: "ConnectionStatusFromId" })

/**
 * What a status means for the partner. Every status has exactly one class; the map below is total,
 * so a status added to `names` does not compile until it is classified.
 *
 * - `Processing`: the aggregation is under way; keep polling.
 * - `Challenged`: MFA answers are needed from the end user.
 * - `Connected`: the last aggregation succeeded (done once `is_being_aggregated` is false).
 * - `CredentialsRequired`: the member's credentials are invalid or missing; update the member.
 * - `RestartRequired`: the aggregation ended (MFA answered wrong or not in time); start a new one
 *   when the end user is present. Credentials are valid.
 * - `InstitutionActionRequired`: the user must act at the institution's website first.
 * - `ProviderTrouble`: a problem on MX's or the provider's side; retry later.
 * - `Terminal`: aggregation is no longer possible for this member; stop.
 * - `AwaitingOAuth`: an OAuth member waiting for the user to finish the OAuth window.
 * - `NotAggregating`: a member that does not aggregate (`null`).
 * - `Unknown`: a status MX sent that this code does not know. Its meaning is unknown, so nothing is
 *   done that a wrong guess could make harmful: no aggregate, no credential prompt, no request to the
 *   user; the member is read again later (`NextAction.decide` keeps polling).
 *
 * @since 0.1.0
 * @category models
 */
export const StatusClass = Schema.Literal(
  "Processing",
  "Challenged",
  "Connected",
  "CredentialsRequired",
  "RestartRequired",
  "InstitutionActionRequired",
  "ProviderTrouble",
  "Terminal",
  "AwaitingOAuth",
  "NotAggregating",
  "Unknown"
).annotations({ identifier: "StatusClass" })

/**
 * @since 0.1.0
 * @category models
 */
export type StatusClass = typeof StatusClass.Type

const classes: { readonly [S in ConnectionStatus]: StatusClass } = {
  // The guide's transient states: "generally do not require a specific action … continued polling".
  CREATED: "Processing",
  UPDATED: "Processing",
  DELAYED: "Processing",
  RESUMED: "Processing",
  // Not in the guide. MX's Connect widget lists RECONNECTED among its ProcessingStatuses [0, 8, 15, 18]
  // and polls on; no document calls it an end state.
  RECONNECTED: "Processing",
  CHALLENGED: "Challenged",
  CONNECTED: "Connected",
  // The guide: "PREVENTED or DENIED … the end user must provide new credentials, and the member must be
  // updated". IMPAIRED (missing or partial credentials) and IMPORTED (MX lacks credentials) carry the
  // same UPDATE_CREDENTIALS action in MX's widget and the same "re-authenticate" message.
  PREVENTED: "CredentialsRequired",
  DENIED: "CredentialsRequired",
  IMPAIRED: "CredentialsRequired",
  IMPORTED: "CredentialsRequired",
  // The guide: REJECTED "a new aggregation must be initiated"; EXPIRED "the authentication credentials
  // are valid but a new aggregation must be started … the next time the end user is present".
  REJECTED: "RestartRequired",
  EXPIRED: "RestartRequired",
  // MX: LOCKED "The end user must go to the FI's website"; IMPEDED "your attention is needed at <FI>".
  LOCKED: "InstitutionActionRequired",
  IMPEDED: "InstitutionActionRequired",
  // Not in the guide. DEGRADED ("website maintenance … try again later"), DISCONNECTED ("we are working
  // to resolve the issue") and FAILED ("the process was unsuccessful … try again later") are problems
  // on the provider's side: credentials are not known to be bad, so retry later with backoff. MX's
  // aggregation-endpoint guide lists DEGRADED, DISCONNECTED and F(AILED) among the statuses from which
  // aggregation may be attempted.
  DEGRADED: "ProviderTrouble",
  DISCONNECTED: "ProviderTrouble",
  FAILED: "ProviderTrouble",
  // The guide's end states for which no user action helps: the institution is no longer supported,
  // the account closed, or aggregation was disabled.
  DISCONTINUED: "Terminal",
  CLOSED: "Terminal",
  DISABLED: "Terminal",
  // Not in the guide. OAuth members are created PENDING with a one-time oauth_window_uri; the status
  // moves on only when the user completes the OAuth window, so there is nothing to poll for until then.
  PENDING: "AwaitingOAuth"
}

/**
 * The class of a status; `null` (a member that does not aggregate) is `NotAggregating`, a status this
 * code does not know is `Unknown`.
 *
 * @since 0.1.0
 * @category classification
 */
export const classify = (status: NullableReportedStatus): StatusClass =>
  status === null ? "NotAggregating" : isKnown(status) ? classes[status] : "Unknown"

/**
 * The statuses the guide calls transient: "CREATED, UPDATED, DELAYED, and RESUMED represent transient
 * states … [that] may require continued polling until an end state is reached".
 *
 * @since 0.1.0
 * @category classification
 */
export const guideTransient: ReadonlySet<ConnectionStatus> = new Set(["CREATED", "UPDATED", "DELAYED", "RESUMED"])

/**
 * The statuses the guide calls end states "that will require a new aggregation, and possibly end-user
 * input for future success".
 *
 * @since 0.1.0
 * @category classification
 */
export const guideEndStates: ReadonlySet<ConnectionStatus> = new Set([
  "PREVENTED",
  "DENIED",
  "IMPEDED",
  "IMPAIRED",
  "REJECTED",
  "EXPIRED",
  "LOCKED",
  "IMPORTED",
  "DISABLED",
  "DISCONTINUED",
  "CLOSED"
])

/**
 * Whether a status, by its class alone, is an end state of an aggregation: anything but `Processing`
 * and `Unknown` (CHALLENGED counts: MFA is needed). This looks at the status only; whether polling can
 * stop also depends on `is_being_aggregated`, which `NextAction.isSettled` takes into account.
 * (Formerly `ConnectionStatus.isSettled`, renamed so that it does not share a name with
 * `NextAction.isSettled`.)
 *
 * @since 0.1.0
 * @category classification
 */
export const isEndState = (status: NullableReportedStatus): boolean => {
  const statusClass = classify(status)
  return statusClass !== "Processing" && statusClass !== "Unknown"
}

/**
 * The statuses that trigger MX's CONNECTION_STATUS webhook (end-user-actionable states).
 *
 * @since 0.1.0
 * @category classification
 */
export const webhookStatuses: ReadonlySet<ConnectionStatus> = new Set([
  "CHALLENGED",
  "DENIED",
  "EXPIRED",
  "IMPAIRED",
  "IMPEDED",
  "LOCKED",
  "PREVENTED",
  "REJECTED"
])
