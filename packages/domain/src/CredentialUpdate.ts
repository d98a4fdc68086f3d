/**
 * The policy for new credentials (DENIED, PREVENTED, IMPAIRED, IMPORTED): update the existing member,
 * never delete and recreate it; take the required fields from the *member's* credential list, not the
 * institution's; refuse credentials identical to another member of the same user and institution;
 * and say whether to send `skip_aggregation` and whether MX will start an aggregation by itself.
 *
 * @since 0.1.0
 */
import { Effect, Redacted, Schema } from "effect"
import {
  type Credential,
  CredentialGuid,
  CredentialValue,
  type InstitutionCode,
  MemberGuid,
  UserGuid
} from "./Member.js"

/**
 * Why an update takes new credentials. Identify and verify flows update credentials without
 * aggregating (MX's guide: "if you are trying to identify or verify a member, pass skip_aggregation").
 *
 * @since 0.1.0
 * @category models
 */
export const Purpose = Schema.Literal("aggregation", "identify", "verify")

/**
 * @since 0.1.0
 * @category models
 */
export type Purpose = typeof Purpose.Type

/**
 * The member being updated.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly guid: MemberGuid
  readonly user_guid: UserGuid
  readonly institution_code: InstitutionCode
}

/**
 * Another member of the same user whose credentials are known to the caller in this request (for
 * example submitted together). Members of other users or institutions are ignored.
 *
 * @since 0.1.0
 * @category models
 */
export interface OtherMember extends Target {
  readonly credentials: ReadonlyArray<CredentialValue>
}

/**
 * What `plan` needs: the member, its own credential list (from list member credentials), the values
 * the end user entered, and the caller's intent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly member: Target
  readonly memberCredentials: ReadonlyArray<Credential>
  readonly values: ReadonlyArray<CredentialValue>
  readonly purpose?: Purpose | undefined
  /** The caller will call aggregate itself later, so MX must not start one now. */
  readonly aggregateLater?: boolean | undefined
  readonly otherMembers?: ReadonlyArray<OtherMember> | undefined
}

/**
 * The update to send. `operation` is always `UpdateMember`: there is no delete-and-recreate plan.
 * When `mxStartsAggregation` is true the caller must not call aggregate afterwards: MX already started
 * one, and the caller polls it instead.
 *
 * @since 0.1.0
 * @category models
 */
export class Plan extends Schema.Class<Plan>("CredentialUpdatePlan")({
  operation: Schema.Literal("UpdateMember"),
  memberGuid: MemberGuid,
  userGuid: UserGuid,
  credentials: Schema.Array(CredentialValue),
  skipAggregation: Schema.Boolean,
  mxStartsAggregation: Schema.Boolean
}) {}

/**
 * Why new credentials were refused. Never carries a value: only guids and reasons.
 *
 * @since 0.1.0
 * @category errors
 */
export class CredentialUpdateRejected extends Schema.TaggedError<CredentialUpdateRejected>()(
  "CredentialUpdateRejected",
  {
    reason: Schema.Literal(
      "NoMemberCredentials",
      "MissingField",
      "UnknownField",
      "EmptyValue",
      "DuplicateField",
      "DuplicateMember"
    ),
    credentialGuid: Schema.optional(CredentialGuid),
    otherMemberGuid: Schema.optional(MemberGuid)
  }
) {
  override get message(): string {
    switch (this.reason) {
      case "NoMemberCredentials":
        return "The member's credential list is empty: list the member's credentials before asking for new ones"
      case "MissingField":
        return `No value for the member's required credential ${this.credentialGuid}`
      case "UnknownField":
        return `Credential ${this.credentialGuid} is not one of the member's credentials`
      case "EmptyValue":
        return `The value for credential ${this.credentialGuid} is empty or blank`
      case "DuplicateField":
        return `Two values were given for credential ${this.credentialGuid}`
      case "DuplicateMember":
        return `These credentials are already used by member ${this.otherMemberGuid} of the same user and institution`
    }
  }
}

const sameValues = (a: ReadonlyArray<CredentialValue>, b: ReadonlyArray<CredentialValue>): boolean => {
  if (a.length !== b.length) return false
  const values = new Map(b.map((c) => [c.guid as string, Redacted.value(c.value)]))
  return a.every((c) => values.get(c.guid) === Redacted.value(c.value))
}

/**
 * Plans a credential update. Refuses an empty member credential list, a missing, unknown, empty or
 * blank field, two values for one field (rather than keep the last),
 * and credentials identical to those of another member of the same user and institution (MX refuses
 * that update as a duplicate member). The credentials come out in the member's `display_order`.
 *
 * @since 0.1.0
 * @category rules
 */
export const plan = (input: Input): Effect.Effect<Plan, CredentialUpdateRejected> =>
  Effect.suspend(() => {
    const required = [...input.memberCredentials].sort((a, b) => (a.display_order ?? 0) - (b.display_order ?? 0))
    if (required.length === 0) return Effect.fail(new CredentialUpdateRejected({ reason: "NoMemberCredentials" }))
    const requiredGuids = new Set(required.map((c) => c.guid as string))
    const given = new Map<string, CredentialValue>()
    for (const value of input.values) {
      if (!requiredGuids.has(value.guid)) {
        return Effect.fail(new CredentialUpdateRejected({ reason: "UnknownField", credentialGuid: value.guid }))
      }
      if (given.has(value.guid)) {
        return Effect.fail(new CredentialUpdateRejected({ reason: "DuplicateField", credentialGuid: value.guid }))
      }
      given.set(value.guid, value)
    }
    const credentials: Array<CredentialValue> = []
    for (const credential of required) {
      const value = given.get(credential.guid)
      if (value === undefined) {
        return Effect.fail(new CredentialUpdateRejected({ reason: "MissingField", credentialGuid: credential.guid }))
      }
      // Blank counts as empty, as for MFA answers; a non-blank value is sent as entered (a password may
      // begin or end with a space).
      if (Redacted.value(value.value).trim().length === 0) {
        return Effect.fail(new CredentialUpdateRejected({ reason: "EmptyValue", credentialGuid: credential.guid }))
      }
      credentials.push(value)
    }
    const duplicate = (input.otherMembers ?? []).find((other) =>
      other.guid !== input.member.guid &&
      other.user_guid === input.member.user_guid &&
      other.institution_code === input.member.institution_code &&
      sameValues(credentials, other.credentials)
    )
    if (duplicate !== undefined) {
      return Effect.fail(new CredentialUpdateRejected({ reason: "DuplicateMember", otherMemberGuid: duplicate.guid }))
    }
    const skipAggregation = (input.purpose ?? "aggregation") !== "aggregation" || input.aggregateLater === true
    return Effect.succeed(
      new Plan({
        operation: "UpdateMember",
        memberGuid: input.member.guid,
        userGuid: input.member.user_guid,
        credentials,
        skipAggregation,
        mxStartsAggregation: !skipAggregation
      })
    )
  })
