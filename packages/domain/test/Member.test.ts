import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { ConnectionStatus, Member, NextAction } from "../src/index.js"

const decodeMember = Schema.decodeUnknownEither(Member.Member)
const decodeChallenge = Schema.decodeUnknownSync(Member.Challenge)

describe("Member schemas", () => {
  it("decode what MX really sends: nulls, string job guids, unknown fields", () => {
    const member = decodeMember({
      guid: "MBR-1",
      user_guid: "USR-1",
      connection_status: null,
      is_being_aggregated: null,
      most_recent_job_guid: "JOB-1",
      most_recent_job_detail_text: null,
      aggregated_at: null,
      something_new: { nested: true }
    })
    assert(Either.isRight(member))
    assert.strictEqual(member.right.connection_status, null)
    // Not read as false: unknown, which the rules treat as still aggregating.
    assert.strictEqual(member.right.is_being_aggregated, null)
    assert.strictEqual(member.right.most_recent_job_guid, "JOB-1")
  })

  it("an empty user_guid or institution_code reads as absent; a challenge without a guid is left out of a status", () => {
    const member = Schema.decodeUnknownSync(Member.Member)({ guid: "MBR-1", user_guid: "", institution_code: "" })
    assert.strictEqual(member.user_guid, null)
    assert.strictEqual(member.institution_code, null)
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Member.Member)({ guid: "" })), "a member needs its guid")
    const status = Schema.decodeUnknownSync(Member.MemberStatus)({
      guid: "MBR-1",
      connection_status: "CHALLENGED",
      is_being_aggregated: false,
      challenges: [{ guid: "", type: "TEXT", label: "?" }, { guid: null }, {
        guid: "CRD-1",
        type: "TEXT",
        label: "City?"
      }]
    })
    assert.deepStrictEqual(status.challenges.map((c) => c.guid), ["CRD-1"])
  })

  it("an unknown connection_status decodes, kept with its raw text; known ones stay precise", () => {
    for (const schema of [Member.Member, Member.MemberStatus] as ReadonlyArray<Schema.Schema<any, any>>) {
      const decoded: NextAction.Observation = Schema.decodeUnknownSync(schema)({
        guid: "MBR-1",
        connection_status: "RECONNECTING",
        is_being_aggregated: false
      })
      assert.strictEqual(decoded.connection_status, "RECONNECTING")
      assert.isFalse(ConnectionStatus.isKnown(decoded.connection_status!))
      assert.strictEqual(ConnectionStatus.classify(decoded.connection_status), "Unknown")
      // Read again later; never aggregated, never a credential prompt or a request to the user.
      const action = NextAction.decide(decoded)
      assert.deepStrictEqual(action, new NextAction.KeepPolling({ status: decoded.connection_status }))
      assert.isFalse(NextAction.needsUser(action))
      assert.deepStrictEqual(Schema.encodeSync(schema)(decoded).connection_status, "RECONNECTING")
    }
    const known = Schema.decodeUnknownSync(Member.Member)({ guid: "MBR-1", connection_status: "DENIED" })
    assert.isTrue(ConnectionStatus.isKnown(known.connection_status!))
    // The strict schema still refuses it, for the places that want only the 22 names.
    assert(Either.isLeft(Schema.decodeUnknownEither(ConnectionStatus.ConnectionStatus)("RECONNECTING")))
  })

  it.prop("any string MX sends as connection_status decodes", [fc.string()], ([raw]) => {
    const member = Schema.decodeUnknownSync(Member.Member)({ guid: "MBR-1", connection_status: raw })
    assert.strictEqual(member.connection_status, raw)
    assert.strictEqual(
      ConnectionStatus.classify(member.connection_status) === "Unknown",
      !(ConnectionStatus.names as ReadonlyArray<string>).includes(raw)
    )
  })

  it("a member without is_being_aggregated is not settled: it never decides PullData", () => {
    for (const is_being_aggregated of [undefined, null]) {
      const member = Schema.decodeUnknownSync(Member.Member)({
        guid: "MBR-1",
        connection_status: "CONNECTED",
        successfully_aggregated_at: "2026-01-01T00:00:00Z",
        ...(is_being_aggregated === undefined ? {} : { is_being_aggregated })
      })
      assert.strictEqual(member.is_being_aggregated, null)
      assert.strictEqual(NextAction.decide(member)._tag, "KeepPolling")
      assert.isFalse(NextAction.isSettled(member))
    }
    const settled = Schema.decodeUnknownSync(Member.MemberStatus)({
      guid: "MBR-1",
      connection_status: "CONNECTED",
      is_being_aggregated: false
    })
    assert.strictEqual(NextAction.decide(settled)._tag, "PullData")
  })

  it("a challenge with a missing, null or unknown type decodes with its guid and label", () => {
    const missing = decodeChallenge({ guid: "CRD-1", label: "Touch your key" })
    assert.strictEqual(missing.type, null)
    assert.strictEqual(missing.label, "Touch your key")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: null }).type, null)
    const unknown = decodeChallenge({ guid: "CRD-2", type: "SECURITY_KEY", label: "Security key" })
    assert.strictEqual(unknown.type, "SECURITY_KEY")
    assert.strictEqual(unknown.guid, "CRD-2")
    assert.strictEqual(unknown.label, "Security key")
    assert.isFalse(Member.isKnownChallengeType(unknown.type))
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 99 }).type, "99")
    assert.isTrue(Member.isKnownChallengeType(decodeChallenge({ guid: "CRD-1", type: "text" }).type))
  })

  it("option and image-option entries whose value is null are skipped", () => {
    const challenge = decodeChallenge({
      guid: "CRD-3",
      type: "OPTIONS",
      options: [{ label: "Gone", value: null }, { label: "Text me", value: "text" }, { label: "No value" }],
      image_options: [{ label: "Cat", value: null, data_uri: "data:," }, { label: "Dog", value: "dog" }]
    })
    assert.deepStrictEqual(challenge.options.map((o) => o.value), ["text"])
    assert.deepStrictEqual(challenge.image_options.map((o) => o.value), ["dog"])
    // An entry that is not an option at all still fails.
    assert.throws(() => decodeChallenge({ guid: "CRD-3", type: "OPTIONS", options: [{ value: 7 }] }))
  })

  it("challenge type may be a string, a number or MX Bank's IMAGE", () => {
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: "TEXT" }).type, "TEXT")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 0 }).type, "TEXT")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 2 }).type, "OPTIONS")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 13 }).type, "IMAGE_DATA")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: "IMAGE" }).type, "IMAGE_DATA")
    assert.throws(
      () => Schema.decodeUnknownSync(Member.ChallengeTypeFromWire)(99),
      /Unknown MX challenge type code: 99/
    )
    const options = decodeChallenge({
      guid: "CRD-2",
      type: "OPTIONS",
      options: [{ label: "Text me", value: "text" }],
      image_options: null
    })
    assert.strictEqual(options.options[0]!.value, "text")
    assert.deepStrictEqual(options.image_options, [])
  })

  it("credential values are Redacted: never in JSON or string form", () => {
    const value = Schema.decodeUnknownSync(Member.CredentialValue)({ guid: "CRD-1", value: "hunter2" })
    assert.notInclude(JSON.stringify(value), "hunter2")
    assert.notInclude(String(value), "hunter2")
    assert.deepStrictEqual(Schema.encodeSync(Member.CredentialValue)(value), { guid: "CRD-1", value: "hunter2" })
  })
})
