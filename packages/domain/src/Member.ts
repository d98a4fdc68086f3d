/**
 * MX's member objects as Schemas: the member, its status, its MFA challenges and its credentials.
 * Field names are MX's own, so the same Schema decodes MX's JSON and generates property-test data.
 * They are tolerant where MX is: nullable fields, unknown extra fields, unknown `connection_status`
 * values (kept as `UnknownStatus`), challenge types as strings, numbers, unknown names or null, option
 * entries without a value (skipped), `most_recent_job_guid` as a string although the spec says boolean.
 *
 * @since 0.1.0
 */
import { ParseResult, Schema } from "effect"
import { NullableReportedStatus } from "./ConnectionStatus.js"
import { nullable } from "./MxField.js"

/**
 * A member guid (`MBR-…`).
 *
 * @since 0.1.0
 * @category ids
 */
export const MemberGuid = Schema.NonEmptyTrimmedString.pipe(Schema.brand("MemberGuid"))

/**
 * @since 0.1.0
 * @category ids
 */
export type MemberGuid = typeof MemberGuid.Type

/**
 * A user guid (`USR-…`).
 *
 * @since 0.1.0
 * @category ids
 */
export const UserGuid = Schema.NonEmptyTrimmedString.pipe(Schema.brand("UserGuid"))

/**
 * @since 0.1.0
 * @category ids
 */
export type UserGuid = typeof UserGuid.Type

/**
 * A credential or challenge guid (`CRD-…`).
 *
 * @since 0.1.0
 * @category ids
 */
export const CredentialGuid = Schema.NonEmptyTrimmedString.pipe(Schema.brand("CredentialGuid"))

/**
 * @since 0.1.0
 * @category ids
 */
export type CredentialGuid = typeof CredentialGuid.Type

/**
 * An institution code (`mxbank`).
 *
 * @since 0.1.0
 * @category ids
 */
export const InstitutionCode = Schema.NonEmptyTrimmedString.pipe(Schema.brand("InstitutionCode"))

/**
 * @since 0.1.0
 * @category ids
 */
export type InstitutionCode = typeof InstitutionCode.Type

/** An empty string, read as null (MX's spec allows `""` where an id is absent). */
const blank = Schema.transform(Schema.Literal(""), Schema.Null, {
  strict: true,
  decode: () => null,
  encode: () => "" as const
})

/** An id MX may send as null or `""`, or leave out: both read as absent (null). */
const optionalId = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optional(Schema.NullOr(Schema.Union(schema, blank)))

/** A boolean MX may send as null or leave out; read as false. */
const flag = Schema.optionalWith(Schema.Boolean, { nullable: true, default: () => false })

/**
 * `is_being_aggregated` as MX sends it, `null` when MX left it out or sent null. It is never read as
 * false: a partial member read as "not aggregating" would let a status left over from the previous
 * aggregation (a CONNECTED from yesterday) decide PullData while a new job runs. The guide says the
 * field "will be true if the member is being aggregated … Otherwise, this field will be false", so a
 * member without it is unknown, and `NextAction.decide` treats unknown as still aggregating.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IsBeingAggregated = Schema.optionalWith(Schema.NullOr(Schema.Boolean), { default: () => null })

/**
 * An ISO 8601 timestamp as MX sends it (`2016-10-13T18:07:57.000Z`), kept as the string MX sent.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Timestamp = Schema.String.annotations({ identifier: "Timestamp" })

/**
 * A member, as returned by create, read, update, list, aggregate and resume.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Member extends Schema.Class<Member>("Member")({
  guid: MemberGuid,
  user_guid: optionalId(UserGuid),
  user_id: nullable(Schema.String),
  id: nullable(Schema.String),
  name: nullable(Schema.String),
  institution_code: optionalId(InstitutionCode),
  institution_guid: nullable(Schema.String),
  connection_status: Schema.optionalWith(NullableReportedStatus, { default: () => null }),
  connection_status_message: nullable(Schema.String),
  is_being_aggregated: IsBeingAggregated,
  is_oauth: flag,
  is_manual: flag,
  is_managed_by_user: flag,
  needs_updated_credentials: flag,
  background_aggregation_is_disabled: flag,
  aggregated_at: nullable(Timestamp),
  successfully_aggregated_at: nullable(Timestamp),
  oauth_window_uri: nullable(Schema.String),
  metadata: nullable(Schema.String),
  // The spec types these two as boolean; MX and its SDK send strings (`JOB-…`, a message).
  most_recent_job_guid: nullable(Schema.Union(Schema.String, Schema.Boolean)),
  most_recent_job_detail_code: nullable(Schema.Number),
  most_recent_job_detail_text: nullable(Schema.Union(Schema.String, Schema.Boolean)),
  use_cases: nullable(Schema.Array(Schema.String))
}) {}

/**
 * The kinds of MFA challenge. MX documents `TEXT`, `OPTIONS`, `TOKEN`, `IMAGE_DATA`, `IMAGE_OPTIONS`;
 * its widget also knows `PASSWORD` and `LOGIN`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChallengeType = Schema.Literal(
  "TEXT",
  "PASSWORD",
  "OPTIONS",
  "LOGIN",
  "TOKEN",
  "IMAGE_DATA",
  "IMAGE_OPTIONS"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ChallengeType = typeof ChallengeType.Type

/**
 * Numeric challenge type codes, as MX's Connect widget defines them (`src/const/Credential.js`); MX's
 * MFA guide shows `"type": 0` in its examples.
 *
 * @since 0.1.0
 * @category constants
 */
export const challengeTypeCodes: { readonly [K in ChallengeType]: number } = {
  TEXT: 0,
  PASSWORD: 1,
  OPTIONS: 2,
  LOGIN: 3,
  TOKEN: 12,
  IMAGE_DATA: 13,
  IMAGE_OPTIONS: 14
}

const typeByCode = new Map(Object.entries(challengeTypeCodes).map(([k, v]) => [v, k as ChallengeType]))

/**
 * A challenge `type` as MX sends it: a name, a numeric code, or `IMAGE` (the MX Bank docs' name for
 * `IMAGE_DATA`). Decodes to a name; encodes as the name.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChallengeTypeFromWire: Schema.Schema<ChallengeType, string | number> = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.Number),
  ChallengeType,
  {
    strict: true,
    decode: (raw, _, ast) => {
      if (typeof raw === "number") {
        const name = typeByCode.get(raw)
        return name === undefined
          ? ParseResult.fail(new ParseResult.Type(ast, raw, `Unknown MX challenge type code: ${raw}`))
          : ParseResult.succeed(name)
      }
      const upper = raw.toUpperCase()
      if (upper === "IMAGE") return ParseResult.succeed("IMAGE_DATA" as const)
      return Schema.is(ChallengeType)(upper)
        ? ParseResult.succeed(upper)
        : ParseResult.fail(new ParseResult.Type(ast, raw, `Unknown MX challenge type: ${raw}`))
    },
    encode: ParseResult.succeed
  }
).annotations({ identifier: "ChallengeType" })

/**
 * A challenge `type` MX sent that is not one of the known kinds (`SECURITY_KEY`, an unknown numeric
 * code as its decimal text), kept as sent. Such a challenge is answered as free text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownChallengeType = Schema.String.pipe(
  Schema.brand("UnknownChallengeType"),
  Schema.annotations({ identifier: "UnknownChallengeType" })
)

/**
 * @since 0.1.0
 * @category models
 */
export type UnknownChallengeType = typeof UnknownChallengeType.Type

/**
 * A challenge `type` as decoded: a known kind, an unknown one kept with its raw text, or `null` when MX
 * sent none (MX's spec: a nullable string).
 *
 * @since 0.1.0
 * @category models
 */
export type ReportedChallengeType = ChallengeType | UnknownChallengeType | null

/**
 * Whether a decoded challenge type is one of the known kinds.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKnownChallengeType = (type: ReportedChallengeType): type is ChallengeType =>
  type !== null && Schema.is(ChallengeType)(type)

/**
 * A challenge `type` as MX may send it, tolerantly: a known name or code decodes as
 * `ChallengeTypeFromWire` does; any other string or number decodes to an `UnknownChallengeType` with
 * its raw text. Encodes back to the name or raw text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TolerantChallengeType: Schema.Schema<ChallengeType | UnknownChallengeType, string | number> = Schema
  .transform(
    Schema.Union(Schema.String, Schema.Number),
    Schema.Union(ChallengeType, UnknownChallengeType),
    {
      strict: true,
      decode: (raw): ChallengeType | UnknownChallengeType => {
        const known = Schema.decodeEither(ChallengeTypeFromWire)(raw)
        return known._tag === "Right" ? known.right : UnknownChallengeType.make(String(raw))
      },
      encode: (type) => type
    }
  ).annotations({ identifier: "TolerantChallengeType" })

/** Keeps the entries whose `value` is a string: MX's spec makes option values nullable, and an option
 * without a value cannot be answered. */
const answerableOptions = <A, I extends { readonly value: string }, R>(item: Schema.Schema<A, I, R>) =>
  Schema.optionalWith(
    Schema.transform(Schema.Array(Schema.Unknown), Schema.Array(item), {
      strict: false,
      decode: (entries) =>
        entries.filter((entry) =>
          !(typeof entry === "object" && entry !== null && (!("value" in entry) || entry.value === null))
        ),
      encode: (entries) => entries
    }),
    { nullable: true, default: () => [] }
  )

/**
 * One option of an `OPTIONS` challenge. The option `guid` (`CRO-…`) is recent in MX's spec; the
 * answer may be the option's `value` or its `guid`. Entries MX sends with a null value are skipped
 * when a `Challenge` decodes.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ChallengeOption extends Schema.Class<ChallengeOption>("ChallengeOption")({
  guid: nullable(Schema.String),
  label: nullable(Schema.String),
  value: Schema.String
}) {}

/**
 * One option of an `IMAGE_OPTIONS` challenge. Entries with a null value are skipped, as for
 * `ChallengeOption`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ImageOption extends Schema.Class<ImageOption>("ImageOption")({
  guid: nullable(Schema.String),
  label: nullable(Schema.String),
  value: Schema.String,
  data_uri: nullable(Schema.String)
}) {}

/**
 * An MFA challenge: a question the end user must answer before the aggregation can resume. A missing,
 * null or unknown `type` still decodes (`null` or an `UnknownChallengeType`), keeping the guid and
 * label; such a challenge is answered as free text (see `Mfa.validateAnswers`).
 *
 * @since 0.1.0
 * @category schemas
 */
export class Challenge extends Schema.Class<Challenge>("Challenge")({
  guid: CredentialGuid,
  type: Schema.optionalWith(Schema.NullOr(TolerantChallengeType), { default: () => null }),
  label: nullable(Schema.String),
  field_name: nullable(Schema.String),
  image_data: nullable(Schema.String),
  options: answerableOptions(ChallengeOption),
  image_options: answerableOptions(ImageOption)
}) {}

const decodeChallenge = Schema.decodeUnknownEither(Challenge)

/**
 * The challenges of a status read: an entry that is not a challenge the user could answer (no guid, as
 * MX's spec allows) is left out rather than failing the whole read; the others keep their types.
 */
const AnswerableChallenges = Schema.transform(
  Schema.Array(Schema.Unknown),
  Schema.Array(Schema.typeSchema(Challenge)),
  {
    strict: true,
    decode: (items) =>
      items.flatMap((item) => {
        const decoded = decodeChallenge(item)
        return decoded._tag === "Right" ? [decoded.right] : []
      }),
    encode: (challenges) => challenges.map((challenge) => Schema.encodeSync(Challenge)(challenge))
  }
)

/**
 * What `GET …/members/{guid}/status` returns: the fields that follow an aggregation.
 *
 * @since 0.1.0
 * @category schemas
 */
export class MemberStatus extends Schema.Class<MemberStatus>("MemberStatus")({
  guid: MemberGuid,
  connection_status: Schema.optionalWith(NullableReportedStatus, { default: () => null }),
  is_being_aggregated: IsBeingAggregated,
  is_authenticated: flag,
  has_processed_accounts: flag,
  has_processed_account_numbers: flag,
  has_processed_transactions: flag,
  aggregated_at: nullable(Timestamp),
  successfully_aggregated_at: nullable(Timestamp),
  challenges: Schema.optionalWith(AnswerableChallenges, { nullable: true, default: () => [] })
}) {}

/**
 * A credential field a member (or an institution) requires, such as a username or a password.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Credential extends Schema.Class<Credential>("Credential")({
  guid: CredentialGuid,
  field_name: nullable(Schema.String),
  field_type: nullable(Schema.String),
  label: nullable(Schema.String),
  type: nullable(Schema.String),
  display_order: nullable(Schema.Number)
}) {}

/**
 * A value for a credential or an MFA answer, as sent to MX: `{ guid, value }`. The value is
 * `Redacted`, so it never shows in logs, errors or JSON; it is revealed only on the wire.
 *
 * @since 0.1.0
 * @category schemas
 */
export class CredentialValue extends Schema.Class<CredentialValue>("CredentialValue")({
  guid: CredentialGuid,
  value: Schema.Redacted(Schema.String)
}) {}
