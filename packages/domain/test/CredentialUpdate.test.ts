import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, Redacted } from "effect"
import { AutomaticAggregation, CredentialUpdate, Member } from "../src/index.js"

const guid = Member.CredentialGuid.make
const member = {
  guid: Member.MemberGuid.make("MBR-1"),
  user_guid: Member.UserGuid.make("USR-1"),
  institution_code: Member.InstitutionCode.make("mxbank")
}
const credential = (g: string, display_order: number) =>
  new Member.Credential({ guid: guid(g), label: g, field_name: g, display_order })
// The member's own credentials differ from the institution's (another data provider).
const memberCredentials = [credential("CRD-PASS", 1), credential("CRD-USER", 0)]
const value = (g: string, v: string) => new Member.CredentialValue({ guid: guid(g), value: Redacted.make(v) })
const good = [value("CRD-PASS", "s3cret-pass"), value("CRD-USER", "mxuser")]

const rejected = (input: CredentialUpdate.Input) =>
  Effect.flip(CredentialUpdate.plan(input)).pipe(
    Effect.map((e): Array<string | undefined> => [e.reason, e.credentialGuid ?? e.otherMemberGuid])
  )

describe("CredentialUpdate.plan", () => {
  it.effect("updates the member with its own credential fields, in display order", () =>
    Effect.gen(function*() {
      const plan = yield* CredentialUpdate.plan({ member, memberCredentials, values: good })
      assert.strictEqual(plan.operation, "UpdateMember")
      assert.strictEqual(plan.memberGuid, "MBR-1")
      assert.deepStrictEqual(plan.credentials.map((c) => c.guid), ["CRD-USER", "CRD-PASS"])
      assert.isFalse(plan.skipAggregation)
      assert.isTrue(plan.mxStartsAggregation)
    }))

  it.effect("refuses missing, unknown and empty fields, and an empty member credential list", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* rejected({ member, memberCredentials, values: [good[1]!] }), [
        "MissingField",
        "CRD-PASS"
      ])
      // A field the institution has but this member does not.
      assert.deepStrictEqual(
        yield* rejected({ member, memberCredentials, values: [...good, value("CRD-PIN", "1234")] }),
        ["UnknownField", "CRD-PIN"]
      )
      assert.deepStrictEqual(
        yield* rejected({ member, memberCredentials, values: [value("CRD-PASS", ""), good[1]!] }),
        ["EmptyValue", "CRD-PASS"]
      )
      assert.deepStrictEqual(yield* rejected({ member, memberCredentials: [], values: good }), [
        "NoMemberCredentials",
        undefined
      ])
    }))

  it.effect("refuses a blank value, as MFA answers are, and two values for one credential (not last-wins)", () =>
    Effect.gen(function*() {
      for (const blank of [" ", "   ", "\t\n"]) {
        assert.deepStrictEqual(
          yield* rejected({ member, memberCredentials, values: [value("CRD-PASS", blank), good[1]!] }),
          ["EmptyValue", "CRD-PASS"]
        )
      }
      assert.deepStrictEqual(
        yield* rejected({ member, memberCredentials, values: [...good, value("CRD-PASS", "another")] }),
        ["DuplicateField", "CRD-PASS"]
      )
      // Even when both values are the same.
      assert.deepStrictEqual(
        yield* rejected({ member, memberCredentials, values: [...good, good[0]!] }),
        ["DuplicateField", "CRD-PASS"]
      )
      // Spaces around a non-blank value are the user's: kept.
      const plan = yield* CredentialUpdate.plan({
        member,
        memberCredentials,
        values: [value("CRD-PASS", " pass "), good[1]!]
      })
      assert.strictEqual(Redacted.value(plan.credentials[1]!.value), " pass ")
    }))

  it.effect("refuses credentials identical to another member of the same user and institution", () =>
    Effect.gen(function*() {
      const twin = { ...member, guid: Member.MemberGuid.make("MBR-2"), credentials: good }
      assert.deepStrictEqual(yield* rejected({ member, memberCredentials, values: good, otherMembers: [twin] }), [
        "DuplicateMember",
        "MBR-2"
      ])
      // Same values at another institution, or for another user, are not duplicates.
      const elsewhere = { ...twin, institution_code: Member.InstitutionCode.make("chase") }
      const otherUser = { ...twin, user_guid: Member.UserGuid.make("USR-2") }
      const differs = { ...twin, credentials: [value("CRD-PASS", "other"), good[1]!] }
      const ok = yield* Effect.exit(
        CredentialUpdate.plan({
          member,
          memberCredentials,
          values: good,
          otherMembers: [elsewhere, otherUser, differs]
        })
      )
      assert.isTrue(Exit.isSuccess(ok))
    }))

  it.effect.prop("skip_aggregation for identify/verify or a caller that aggregates later; MX aggregates otherwise", [
    fc.constantFrom(...CredentialUpdate.Purpose.literals),
    fc.boolean()
  ], ([purpose, aggregateLater]) =>
    Effect.gen(function*() {
      const plan = yield* CredentialUpdate.plan({ member, memberCredentials, values: good, purpose, aggregateLater })
      assert.strictEqual(plan.skipAggregation, purpose !== "aggregation" || aggregateLater)
      assert.strictEqual(plan.mxStartsAggregation, !plan.skipAggregation)
      // The plan agrees with the automatic-aggregation rules.
      assert.strictEqual(
        plan.mxStartsAggregation,
        AutomaticAggregation.startsAggregation(
          new AutomaticAggregation.UpdateMember({ withCredentials: true, skipAggregation: plan.skipAggregation })
        )
      )
    }))

  it.effect("credential values stay Redacted in the plan's string and JSON forms and in errors", () =>
    Effect.gen(function*() {
      const plan = yield* CredentialUpdate.plan({ member, memberCredentials, values: good })
      for (const form of [String(plan), JSON.stringify(plan), plan.toString(), JSON.stringify(plan.credentials)]) {
        assert.notInclude(form, "s3cret-pass")
        assert.notInclude(form, "mxuser")
      }
      const twin = { ...member, guid: Member.MemberGuid.make("MBR-2"), credentials: good }
      const error = yield* Effect.flip(
        CredentialUpdate.plan({ member, memberCredentials, values: good, otherMembers: [twin] })
      )
      assert.notInclude(`${error.message} ${JSON.stringify(error)} ${String(error)}`, "s3cret-pass")
    }))
})

describe("AutomaticAggregation.scope", () => {
  it.prop("skip_aggregation always prevents it", [AutomaticAggregation.Operation], ([op]) => {
    if (op.skipAggregation) assert.strictEqual(AutomaticAggregation.scope(op), "None")
  })

  it("a new session aggregates all the user's members, a new member or a credential update that member", () => {
    const { CreateMember, NewSession, UpdateMember, scope } = AutomaticAggregation
    assert.strictEqual(scope(new NewSession({ skipAggregation: false })), "AllMembersOfUser")
    assert.strictEqual(scope(new CreateMember({ skipAggregation: false })), "ThisMember")
    assert.strictEqual(scope(new UpdateMember({ withCredentials: true, skipAggregation: false })), "ThisMember")
    assert.strictEqual(scope(new UpdateMember({ withCredentials: false, skipAggregation: false })), "None")
    assert.strictEqual(scope(new NewSession({ skipAggregation: true })), "None")
    assert.strictEqual(scope(new CreateMember({ skipAggregation: true })), "None")
    assert.strictEqual(scope(new UpdateMember({ withCredentials: true, skipAggregation: true })), "None")
  })
})
