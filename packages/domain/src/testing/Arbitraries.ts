/**
 * fast-check arbitraries for every domain type, derived from the same Schemas that decode MX's JSON.
 * They use effect's own fast-check instance (`FastCheck` from "effect", fast-check 3.23).
 *
 * @since 0.1.0
 */
import { Arbitrary, FastCheck as fc, Redacted } from "effect"
import * as ConnectionStatus from "../ConnectionStatus.js"
import * as Member from "../Member.js"
import * as NextAction from "../NextAction.js"

/**
 * Any connection status name.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const connectionStatus: fc.Arbitrary<ConnectionStatus.ConnectionStatus> = fc.constantFrom(
  ...ConnectionStatus.names
)

/**
 * Any connection status, or `null`.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const nullableConnectionStatus: fc.Arbitrary<ConnectionStatus.NullableConnectionStatus> = fc.oneof(
  connectionStatus,
  fc.constant(null)
)

/**
 * A status MX might send that is not one of the known names (`RECONNECTING`, lower-case names, …).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const unknownStatus: fc.Arbitrary<ConnectionStatus.UnknownStatus> = fc
  .oneof(
    fc.constantFrom("RECONNECTING", "HALTED", "connected", "", "PENDING_REVIEW"),
    fc.string({ maxLength: 12 })
  )
  .filter((s) => !(ConnectionStatus.names as ReadonlyArray<string>).includes(s))
  .map((s) => ConnectionStatus.UnknownStatus.make(s))

/**
 * Any status MX may send: mostly known names, sometimes unknown ones, or `null`.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const nullableReportedStatus: fc.Arbitrary<ConnectionStatus.NullableReportedStatus> = fc.oneof(
  { arbitrary: connectionStatus, weight: 8 },
  { arbitrary: unknownStatus, weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 }
)

/**
 * An ISO 8601 timestamp between 2015 and 2035.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const timestamp: fc.Arbitrary<string> = fc
  .integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2035, 0, 1) })
  .map((ms) => new Date(ms).toISOString())

/**
 * An observation of a member: every status (known, unknown and null) × `is_being_aggregated` (true,
 * false or unknown) × timestamps present, null or absent.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const observation: fc.Arbitrary<NextAction.Observation> = fc.record(
  {
    connection_status: nullableReportedStatus,
    is_being_aggregated: fc.oneof(fc.boolean(), fc.constant(null)),
    aggregated_at: fc.option(timestamp, { nil: null }),
    successfully_aggregated_at: fc.option(timestamp, { nil: null })
  },
  { requiredKeys: ["connection_status", "is_being_aggregated"] }
)

/**
 * A member, as MX would return it.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const member: fc.Arbitrary<Member.Member> = Arbitrary.make(Member.Member)

/**
 * A member status, as `GET …/status` would return it.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const memberStatus: fc.Arbitrary<Member.MemberStatus> = Arbitrary.make(Member.MemberStatus)

/**
 * A credential field of a member or an institution.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const credential: fc.Arbitrary<Member.Credential> = Arbitrary.make(Member.Credential)

/**
 * Any MFA challenge.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const challenge: fc.Arbitrary<Member.Challenge> = Arbitrary.make(Member.Challenge)

const guid = (prefix: string) => fc.stringMatching(/^[A-Z0-9]{8,12}$/).map((s) => `${prefix}-${s}`)

/** An offered option: its value is what the user answers, so it is never blank (a blank answer is refused). */
const option = fc.record({
  guid: guid("CRO"),
  label: fc.string({ minLength: 1 }),
  value: fc.string({ minLength: 1 }).filter((s) => s.trim().length > 0)
})

/**
 * A well-formed challenge of any type: options for OPTIONS and IMAGE_OPTIONS (with distinct values),
 * none for the free-text types.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const wellFormedChallenge: fc.Arbitrary<Member.Challenge> = fc
  .record({
    guid: guid("CRD"),
    type: fc.constantFrom(...Member.ChallengeType.literals),
    label: fc.string({ minLength: 1 }),
    options: fc.uniqueArray(option, { minLength: 1, maxLength: 5, selector: (o) => o.value })
  })
  .map(({ guid, label, options, type }) =>
    new Member.Challenge({
      guid: Member.CredentialGuid.make(guid),
      type,
      label,
      field_name: null,
      image_data: type === "IMAGE_DATA" ? "data:image/png;base64,AAAA" : null,
      options: type === "OPTIONS" ? options.map((o) => new Member.ChallengeOption(o)) : [],
      image_options: type === "IMAGE_OPTIONS"
        ? options.map((o) => new Member.ImageOption({ ...o, data_uri: "data:image/png;base64,AAAA" }))
        : []
    })
  )

/**
 * A set of challenges with distinct guids, and a valid answer to each: an option's value or guid for
 * option challenges, non-blank text otherwise.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const challengesWithAnswers: fc.Arbitrary<{
  readonly challenges: ReadonlyArray<Member.Challenge>
  readonly answers: ReadonlyArray<Member.CredentialValue>
}> = fc
  .uniqueArray(wellFormedChallenge, { minLength: 1, maxLength: 4, selector: (c) => c.guid })
  .chain((challenges) => fc.tuple(...challenges.map((c) => validAnswer(c))).map((answers) => ({ challenges, answers })))

/**
 * A valid answer to one challenge.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const validAnswer = (challenge: Member.Challenge): fc.Arbitrary<Member.CredentialValue> => {
  const offered = challenge.type === "OPTIONS"
    ? challenge.options
    : challenge.type === "IMAGE_OPTIONS"
    ? challenge.image_options
    : undefined
  const value = offered === undefined
    ? fc.string({ minLength: 1 }).filter((s) => s.trim().length > 0)
    : fc.constantFrom(...offered.flatMap((o) => o.guid ? [o.value, o.guid] : [o.value]))
  return value.map((v) => new Member.CredentialValue({ guid: challenge.guid, value: Redacted.make(v) }))
}

/**
 * Any next action.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const nextAction: fc.Arbitrary<NextAction.NextAction> = Arbitrary.make(NextAction.NextAction)
